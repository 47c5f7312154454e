#!/usr/bin/env bash
# Install everything, then show that SFT on our own generated data teaches a real small model both benchmarks,
# on CPU: generate DB Bench tasks (held-out tables) and easy ALFWorld games (held-out games) -> check the training
# data against the held-out sets (data rule) -> full SFT of SmolLM2-135M-Instruct on 40 DB Bench conversations and
# 100 ALFWorld games (every observation with its action list) -> evaluate base and trained model greedily on
# held-out DB Bench (SQLite, and MariaDB when it is installed) and ALFWorld (simulator games and our own games on
# the real TextWorld engine) -> one report: before/after table with 95% CIs, learning curve, per-type bars,
# example episodes. Compact prompts and easy worlds are named options (docs/learning.md).
#   bash scripts/demo.sh                      measured: see benchmarks/results/learning_demo.md
#   DEMO_PRESET=demo-db bash scripts/demo.sh  the ~9-minute DB-Bench-only version (ALFWorld scored, not trained)
#   DEMO_SEEDS=0,1,2 bash scripts/demo.sh     three training seeds (benchmarks/results/learning_both.md)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
out="runs/demo-$(date -u +%Y%m%dT%H%M%S)"
mysql=()
if abtune db start >/dev/null 2>&1; then mysql=(--mysql); else echo "note: no MariaDB; DB Bench runs on SQLite only" >&2; fi
python benchmarks/learning.py --preset "${DEMO_PRESET:-demo}" --seeds "${DEMO_SEEDS:-0}" --out "$out" "${mysql[@]}"
echo "every artefact of this demo is in $out (report: $out/report.md, plot: $out/learning.png)"
