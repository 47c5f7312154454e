#!/usr/bin/env bash
# Export our marimo notebooks to Jupyter notebooks for Colab (see docs/colab.md).
#
#   scripts/export_to_ipynb.sh [--out DIR] [--repo URL] [--ref REF] [NOTEBOOK.py ...]
#
# Without NOTEBOOK arguments it exports every marimo notebook in training/, dataset/ and eval/.
# training/sft.py becomes DIR/training/sft.ipynb (DIR defaults to notebooks_ipynb/, which git ignores), with an
# install cell (the toolkit from git plus what the notebook's PEP 723 block lists, pinned to uv.lock) and a
# parameters cell in front, and beside it DIR/training/sft.py, the marimo notebook with a git source for the toolkit
# (see agentbench_tuning.notebook_export). --repo defaults to $ABTUNE_REPO_URL, else this checkout's origin
# remote; --ref pins a branch, tag or commit (use one that has this uv.lock).
# The Colab recipe (training/colab_recipe.py: generate -> overlap check -> QLoRA SFT -> vLLM eval -> export ->
# serve) is exported the same way.
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
    --repo|--ref) install_args+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) notebooks+=("$1"); shift ;;
  esac
done
mkdir -p "$out"
out="$(cd "$out" && pwd)"

if [[ ${#notebooks[@]} -eq 0 ]]; then
  mapfile -t notebooks < <(cd "$ROOT" && "$PYTHON" -m agentbench_tuning.notebook_export list)
  notebooks=("${notebooks[@]/#/$ROOT/}")
fi
if [[ ${#notebooks[@]} -eq 0 ]]; then
  echo "error: no marimo notebooks found in $ROOT/{training,dataset,eval}" >&2
  exit 1
fi

exported=()
for notebook in "${notebooks[@]}"; do
  notebook="$(cd "$(dirname "$notebook")" && pwd)/$(basename "$notebook")"
  relative="${notebook#"$ROOT"/}"
  # Fails before anything is written when the repo URL is missing or the PEP 723 block is wrong.
  (cd "$ROOT" && "$PYTHON" -m agentbench_tuning.notebook_export requirements "$relative" \
    ${install_args[@]+"${install_args[@]}"} >/dev/null)
  target="$out/${relative%.py}.ipynb"
  mkdir -p "$(dirname "$target")"
  "$PYTHON" -m marimo export ipynb "$notebook" -o "$target" --force
  (cd "$ROOT" && "$PYTHON" -m agentbench_tuning.notebook_export add-colab-cells "$target" --notebook "$relative" \
    ${install_args[@]+"${install_args[@]}"})
  # The marimo notebook too, its toolkit source pointing at git: `uv run sft.py` works without a checkout.
  (cd "$ROOT" && "$PYTHON" -m agentbench_tuning.notebook_export standalone "$relative" \
    ${install_args[@]+"${install_args[@]}"}) > "${target%.ipynb}.py"
  exported+=("$target" "${target%.ipynb}.py")
done
printf 'exported %s\n' "${exported[@]}"
