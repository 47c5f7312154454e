#!/usr/bin/env bash
# Install everything, then run the CPU demo: generate data, SFT a tiny Qwen-shaped model, merge it.
#   bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
abtune sft --config configs/debug.yaml
abtune export --adapter runs/debug/final --out runs/debug/merged
