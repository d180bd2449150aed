#!/usr/bin/env bash
# Installs OpenStack Keystone, and gunicorn to serve it, in a virtualenv of its own for the
# tests that authenticate against a real Keystone (tests/integration/test_keystone_*.py).
# Keystone's pinned dependencies must not mix with Ostia's, hence the separate venv. It lives
# outside the work tree by default so that every clone (CI's too) reuses it; pip runs only
# when scripts/keystone-constraints.txt changed. Prints nothing when there is nothing to do.
set -euo pipefail
cd "$(dirname "$0")/.."
constraints=$PWD/scripts/keystone-constraints.txt
venv=${OSTIA_KEYSTONE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ostia/keystone-venv}
stamp="$venv/.installed-$(sha1sum "$constraints" | cut -c1-12)"
[ -e "$stamp" ] && exit 0
mkdir -p "$(dirname "$venv")"
# Two test runs installing at once would break the venv: the second waits, then finds it done.
exec 9>"$venv.lock"
flock 9
[ -e "$stamp" ] && exit 0
echo "installing Keystone into $venv"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -c "$constraints" keystone gunicorn
touch "$stamp"
