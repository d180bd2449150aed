#!/usr/bin/env bash
# Creates the project's virtual environment and installs Ostia with its test tools.
set -euo pipefail
venv=${1:-.venv}
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    bash "$(dirname "$0")/install-system-packages.sh" python
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip >/dev/null
"$venv/bin/pip" install -q -e ".[test]"
