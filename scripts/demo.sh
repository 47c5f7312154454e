#!/usr/bin/env bash
# Install everything, then run the CPU demo end to end on a tiny random-weight Qwen2.5-shaped model:
# generate our own training data -> LoRA SFT -> merge/export -> evaluate base and SFT on both harnesses
# (2 seeds each, through the same episode runner as real runs) -> paired comparison report.
#   bash scripts/demo.sh            (about 5 minutes on 2 CPU cores)
# The tiny model is random, so the scores are ~0: the demo shows the pipeline, not a result.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
set -x
abtune sft --config configs/debug.yaml
abtune export --adapter runs/debug/final --out runs/debug/merged
abtune data dbbench-gen --out runs/demo/dbbench-data --n 80 --seed 0
abtune diagnose runs/debug || true   # exits 1 when it finds an error-level problem; the demo goes on
for name in base sft; do
  model=$([ "$name" = base ] && echo tiny:qwen2.5 || echo runs/debug/merged)
  abtune eval dbbench --data runs/demo/dbbench-data/heldout.jsonl --limit 6 --agent model --engine transformers \
    --model "$model" --seeds 0,1 --max-new-tokens 64 --out "runs/demo/dbbench-$name"
  abtune eval alfworld --env sim --games 6 --agent model --engine transformers \
    --model "$model" --seeds 0,1 --max-new-tokens 64 --out "runs/demo/alfworld-$name"
done
abtune report runs/demo/dbbench-base runs/demo/dbbench-sft --compare runs/demo/dbbench-base runs/demo/dbbench-sft \
  --out runs/demo/report-dbbench
abtune report runs/demo/alfworld-base runs/demo/alfworld-sft --compare runs/demo/alfworld-base runs/demo/alfworld-sft \
  --out runs/demo/report-alfworld
