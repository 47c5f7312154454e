#!/usr/bin/env bash
# Export our marimo notebooks to Jupyter notebooks for Colab, each with a first cell that installs the toolkit.
#
#   scripts/export_to_ipynb.sh [--out DIR] [--repo URL] [--ref REF] [--extras LIST] [NOTEBOOK.py ...]
#
# Without NOTEBOOK arguments it exports every marimo notebook in training/, dataset/ and eval/.
# training/sft.py becomes DIR/training/sft.ipynb (DIR defaults to notebooks_ipynb/, which git ignores); the Colab
# recipe training/colab_recipe.py (generate -> overlap check -> QLoRA SFT -> vLLM eval -> export -> serve) likewise.
# --repo defaults to $ABTUNE_REPO_URL, else this checkout's origin remote (see agentbench_tuning.notebooks);
# --ref pins a branch, tag or commit; --extras defaults to vllm,qlora,track.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python}"
# Use this checkout's package even when an older one is installed.
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"

out="$ROOT/notebooks_ipynb"
install_args=()
notebooks=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --repo|--ref|--extras) install_args+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) notebooks+=("$1"); shift ;;
  esac
done

if [[ ${#notebooks[@]} -eq 0 ]]; then
  mapfile -t notebooks < <(cd "$ROOT" && "$PYTHON" -m agentbench_tuning.notebooks list)
  notebooks=("${notebooks[@]/#/$ROOT/}")
fi
if [[ ${#notebooks[@]} -eq 0 ]]; then
  echo "error: no marimo notebooks found in $ROOT/{training,dataset,eval}" >&2
  exit 1
fi

# Resolve the install requirement first, so a missing repo URL fails before anything is written.
requirement="$(cd "$ROOT" && "$PYTHON" -m agentbench_tuning.notebooks requirement ${install_args[@]+"${install_args[@]}"})"

exported=()
for notebook in "${notebooks[@]}"; do
  notebook="$(cd "$(dirname "$notebook")" && pwd)/$(basename "$notebook")"
  relative="${notebook#"$ROOT"/}"
  target="$out/${relative%.py}.ipynb"
  mkdir -p "$(dirname "$target")"
  "$PYTHON" -m marimo export ipynb "$notebook" -o "$target" --force
  exported+=("$target")
done
(cd "$ROOT" && "$PYTHON" -m agentbench_tuning.notebooks add-install-cell "${exported[@]}" --requirement "$requirement")
printf 'exported %s\n' "${exported[@]}"
