#!/usr/bin/env bash
# Installs the Debian packages a profile needs, and only when something is missing.
#   run:  Python with venv, make, haproxy, keepalived, socat, iproute2 (the all-in-one),
#         nftables (the lb-mgmt firewall of namespace amphorae, `ostia up --netns`)
#         nginx with its stream module (UDP listeners; the agent runs its own nginx
#         processes with their own configuration, never the system's nginx service)
#   test: run + PostgreSQL and RabbitMQ servers (the tests start private instances),
#         chromium and a font for the dashboard's headless-browser test, openssh-server for
#         SSH into namespace amphorae (not in run: it would enable a host-wide sshd),
#         wrk for the API benchmark (bench/bench_api.py and its quick-mode test)
set -euo pipefail
profile=${1:-run}
# libpcre2-8-0: the API compiles L7 regexes with the PCRE2 haproxy uses (ostia/common/pcre2.py)
pkgs=(haproxy libpcre2-8-0 keepalived socat iproute2 nftables iputils-ping curl make procps
      nginx libnginx-mod-stream)
case "$profile" in
    run) ;;
    test) pkgs+=(postgresql rabbitmq-server chromium fonts-liberation openssh-server wrk) ;;
    *) echo "unknown profile: $profile" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing+=(python3 python3-venv python3-pip)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO=sudo; else
        echo "need root to install Debian packages: ${missing[*]}" >&2; exit 1
    fi
else SUDO=""; fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Keep Debian from starting the system-wide RabbitMQ/PostgreSQL/nginx services on install:
# tests start private instances on their own ports and stop them afterwards.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    trap '$SUDO rm -f "$policy"' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
