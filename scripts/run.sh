#!/usr/bin/env bash
# The README's run command: install what is missing, then start the all-in-one service.
# Extra arguments go to `ostia up` (e.g. --port 9876 --state-dir DIR --config-file PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-packages.sh run
bash scripts/bootstrap-venv.sh .venv
exec .venv/bin/ostia up "$@"
