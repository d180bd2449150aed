#!/bin/sh
# PING health check for haproxy's `external-check command`.
# haproxy calls: <script> <proxy_addr> <proxy_port> <server_addr> <server_port>
# and exports HAPROXY_SERVER_ADDR; only the server address matters for ICMP.
addr="${HAPROXY_SERVER_ADDR:-$3}"
case "$addr" in
    *:*) exec ping -6 -q -n -c 1 -W 1 "$addr" >/dev/null 2>&1 ;;
    *) exec ping -4 -q -n -c 1 -W 1 "$addr" >/dev/null 2>&1 ;;
esac
