#!/usr/bin/env bash
# Installs the Debian packages a profile needs, only when something is missing.
#   run:    what the all-in-one service needs (haproxy, keepalived, socat, iproute2)
#   test:   run + PostgreSQL and RabbitMQ servers for the integration tests
#   python: Python's venv support
set -euo pipefail
profile=${1:-run}
run_pkgs=(haproxy keepalived socat iproute2 curl)
case "$profile" in
    run) pkgs=("${run_pkgs[@]}") ;;
    test) pkgs=("${run_pkgs[@]}" postgresql rabbitmq-server) ;;
    python) pkgs=(python3-venv python3-pip) ;;
    *) echo "unknown profile: $profile" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO=sudo; else
        echo "need root to install: ${missing[*]}" >&2; exit 1
    fi
else SUDO=""; fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# policy-rc.d keeps Debian from starting the system's own RabbitMQ/PostgreSQL services:
# tests start private instances on their own ports.
if [ -z "$SUDO" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
