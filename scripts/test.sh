#!/usr/bin/env bash
# The README's test command (and CI's): install what tests need, then lint, type-check and
# run the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-packages.sh test
bash scripts/bootstrap-venv.sh .venv
bash scripts/install-keystone.sh  # a real Keystone for tests/integration/test_keystone_*
.venv/bin/ruff check ostia tests bench
.venv/bin/ruff format --check ostia tests bench
.venv/bin/mypy ostia
exec .venv/bin/pytest -q -p no:cacheprovider "$@"
