"""Reading haproxy's `show peers` / `show table` to know whether a reload keeps the tables."""

from __future__ import annotations

import pytest

from ostia.amphora.haproxy_peers_state import table_entries, unsynced_sections
from ostia.common.haproxy_peers import peer_name

# haproxy 2.6.12 answers, trimmed: a fresh pair still resyncing, then the same after the
# resync timeouts, then after a reload whose old worker taught the new one.
FRESH = (
    "0x55dbd9d2e200: [03/Dec/2026:16:39:53] id=343cfbff5da840aeaaa8d7c3bd5477f8_peers "
    "disabled=0 flags=0x6891 resync_timeout=3s task_calls=15\n"
    "  0x55d530871220: id=dca9d7cf81c94313a0fd3e1259e49e4a(remote,active) "
    "addr=198.18.64.250:1025 last_status=ESTA last_hdshk=6s\n"
    "        flags=0x0\n"
)
RESYNCED = FRESH.replace("flags=0x6891 resync_timeout=3s", "flags=0x68b3 resync_timeout=<PAST>")
TAUGHT = FRESH.replace("flags=0x6891 resync_timeout=3s", "flags=0x1103 resync_timeout=4s")


@pytest.mark.parametrize(("answer", "pending"), [(FRESH, 1), (RESYNCED, 0), (TAUGHT, 0), ("", 0)])
def test_sections_still_resyncing(answer, pending):
    assert len(unsynced_sections(answer)) == pending
    if pending:
        assert unsynced_sections(answer) == ["343cfbff5da840aeaaa8d7c3bd5477f8_peers"]


def test_entries_are_summed_over_tables():
    answer = (
        "# table: 9c79:fb13, type: ipv6, size:10240, used:2\n"
        "# table: d4b8:fb13, type: string, size:10240, used:0\n"
        "# table: 0e4b:aa01, type: ipv6, size:10240, used:5\n"
    )
    assert table_entries(answer) == 7
    assert table_entries("") == 0


@pytest.mark.parametrize(
    ("amphora_id", "name"),
    [("a0000000-0000-0000-0000-000000000001", "a0000000000000000000000000000001"), ("amp_1", "amp_1")],
)
def test_peer_name_is_the_id_without_dashes(amphora_id, name):
    assert peer_name(amphora_id) == name


@pytest.mark.parametrize("amphora_id", ["", "-", "--", "a b", "a\nb", ".x", "x" * 65])
def test_ids_that_give_no_peer_name_are_refused(amphora_id):
    with pytest.raises(ValueError):
        peer_name(amphora_id)
