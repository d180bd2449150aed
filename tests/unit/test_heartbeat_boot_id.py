"""The agent's heartbeats name its boot: random per start, signed with the rest."""

from __future__ import annotations

import re
import socket
import types

from ostia.amphora.heartbeat_sender import HeartbeatSender
from ostia.common import heartbeat_format

KEY = "boot-key"


def _received_from(sender: HeartbeatSender, receiver: socket.socket) -> dict:
    assert sender.send_once()
    datagram, _ = receiver.recvfrom(65535)
    return heartbeat_format.decode(datagram, KEY)


def test_every_heartbeat_carries_the_boot_id_of_this_start_and_a_new_start_a_new_one():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(5)
        port = receiver.getsockname()[1]
        conf = types.SimpleNamespace(
            health_manager=types.SimpleNamespace(
                controller_ip_port_list=[f"127.0.0.1:{port}"], heartbeat_key=KEY, heartbeat_interval=1
            )
        )

        def build(seq: int) -> dict:
            return {"id": "amp-1", "seq": seq, "ver": 3, "listeners": {}, "pools": {}}

        first = HeartbeatSender(lambda: conf, build)  # type: ignore[arg-type,return-value]
        try:
            one, two = _received_from(first, receiver), _received_from(first, receiver)
        finally:
            first.stop()
        restarted = HeartbeatSender(lambda: conf, build)  # type: ignore[arg-type,return-value]
        try:
            again = _received_from(restarted, receiver)
        finally:
            restarted.stop()
    assert re.fullmatch(r"[0-9a-f]{32}", one["boot_id"])
    assert (one["seq"], two["seq"], two["boot_id"]) == (0, 1, one["boot_id"])
    assert again["seq"] == 0 and again["boot_id"] != one["boot_id"]
