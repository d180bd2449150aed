#!/bin/sh
# Health check of PING monitors, run by haproxy as `external-check command`.
# haproxy passes <proxy_addr> <proxy_port> <server_addr> <server_port> and sets
# HAPROXY_SERVER_ADDR; one echo request to the member answers the check.
target="${HAPROXY_SERVER_ADDR:-$3}"
case "$target" in
    *:*) exec ping -6 -q -n -c 1 -W 1 "$target" >/dev/null 2>&1 ;;
    *) exec ping -4 -q -n -c 1 -W 1 "$target" >/dev/null 2>&1 ;;
esac
