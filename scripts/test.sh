#!/usr/bin/env bash
# Install everything, then run the whole test suite (what CI runs).
#   bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
set +e
python -m pytest -q --timeout=900 "$@"
rc=$?
set -e
# pytest's 5 means "no tests collected": that is a failure of the suite, not a pass, but say so plainly.
if [ "$rc" = 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi
exit "$rc"
