#!/usr/bin/env bash
# Creates the project's virtual environment and installs Ostia with its test tools.
# Re-runs pip only when pyproject.toml changed since the last install.
set -euo pipefail
venv=${1:-.venv}
stamp="$venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)"
[ -e "$stamp" ] && exit 0
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check --upgrade pip >/dev/null
"$venv/bin/pip" install -q --disable-pip-version-check -e ".[test]"
rm -f "$venv"/.installed-*
touch "$stamp"
