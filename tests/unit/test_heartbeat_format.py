"""The heartbeat wire format and the message the agent builds from haproxy statistics."""

from __future__ import annotations

import hashlib
import hmac
import json
import zlib

import pytest

from ostia.amphora.haproxy_stats import parse_show_stat, summarize
from ostia.amphora.heartbeat_payload import StatsCounters, build_message
from ostia.amphora.heartbeat_sender import parse_destination
from ostia.common import heartbeat_format

MESSAGE = {"id": "amp-1", "seq": 7, "ver": 3, "listeners": {}, "pools": {}}


def test_datagram_is_zlib_json_followed_by_hex_hmac_of_the_compressed_bytes():
    datagram = heartbeat_format.encode(MESSAGE, "key")

    body, digest = datagram[:-64], datagram[-64:]
    assert json.loads(zlib.decompress(body)) == MESSAGE
    assert digest == hmac.new(b"key", body, hashlib.sha256).hexdigest().encode()


def test_decode_round_trips_and_accepts_any_of_several_keys():
    datagram = heartbeat_format.encode(MESSAGE, "new")
    assert heartbeat_format.decode(datagram, "new") == MESSAGE
    assert heartbeat_format.decode(datagram, ["old", "new"]) == MESSAGE


def test_wrong_key_is_a_bad_signature():
    with pytest.raises(heartbeat_format.BadSignature):
        heartbeat_format.decode(heartbeat_format.encode(MESSAGE, "key"), "other")


def test_altered_payload_is_a_bad_signature():
    datagram = bytearray(heartbeat_format.encode(MESSAGE, "key"))
    datagram[3] ^= 0xFF
    with pytest.raises(heartbeat_format.BadSignature):
        heartbeat_format.decode(bytes(datagram), "key")


def test_short_or_cut_datagrams_are_truncated():
    datagram = heartbeat_format.encode(MESSAGE, "key")
    with pytest.raises(heartbeat_format.TruncatedHeartbeat):
        heartbeat_format.decode(datagram[:20], "key")
    with pytest.raises(heartbeat_format.TruncatedHeartbeat):
        heartbeat_format.decode(datagram[:-10], "key")


def test_signed_garbage_is_bad_compression():
    body = b"not zlib at all"
    with pytest.raises(heartbeat_format.BadCompression):
        heartbeat_format.decode(body + heartbeat_format.sign(body, "key"), "key")


def test_signed_non_json_is_bad_payload():
    for raw in (b"\xff\xfe not json", b"[1, 2]"):
        body = zlib.compress(raw, 9)
        with pytest.raises(heartbeat_format.BadPayload):
            heartbeat_format.decode(body + heartbeat_format.sign(body, "key"), "key")


def test_legacy_binary_digest_is_accepted():
    body = zlib.compress(json.dumps(MESSAGE).encode(), 9)
    datagram = body + hmac.new(b"key", body, hashlib.sha256).digest()
    assert heartbeat_format.decode(datagram, "key") == MESSAGE


def test_no_key_configured_is_a_bad_signature():
    with pytest.raises(heartbeat_format.BadSignature):
        heartbeat_format.decode(heartbeat_format.encode(MESSAGE, "key"), [])


HEADER = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,"
    "wretr,wredis,status,weight,act,bck\n"
)
SHOW_STAT = (
    HEADER
    + """L1,FRONTEND,,,2,5,1000,10,1000,2000,0,0,1,,,,,OPEN,,,
P1:L1,M1,0,0,1,2,,6,500,900,,0,,0,0,0,0,UP,1,1,0
P1:L1,M2,0,0,0,2,,4,500,900,,0,,0,0,0,0,UP,0,1,0
P1:L1,M3,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0
P1:L1,M4,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT (via P1:L1/M1),1,1,0
P1:L1,BACKEND,0,0,1,2,,10,1000,2000,0,0,,0,0,0,0,UP,2,2,0
prometheus-exporter-internal,FRONTEND,,,0,0,10,0,0,0,0,0,0,,,,,OPEN,,,
"""
)


def test_stats_become_listener_pool_and_member_entries(tmp_path):
    lb = summarize(parse_show_stat(SHOW_STAT), worker_pid=100)
    message = build_message("amp-1", 0, [lb], StatsCounters(str(tmp_path / "c.json")))

    assert message["listeners"] == {
        "L1": {"status": "OPEN", "stats": {"rx": 1000, "tx": 2000, "conns": 2, "totconns": 10, "ereq": 1}}
    }
    assert message["pools"] == {
        "P1:L1": {"status": "UP", "members": {"M1": "UP", "M2": "DRAIN", "M3": "DOWN", "M4": "MAINT"}}
    }


def _lb(stot: int, pid: int):  # type: ignore[no-untyped-def]
    text = SHOW_STAT.replace("L1,FRONTEND,,,2,5,1000,10,", f"L1,FRONTEND,,,2,5,1000,{stot},")
    return summarize(parse_show_stat(text), worker_pid=pid)


def test_counters_are_deltas_that_survive_a_restart_of_the_agent(tmp_path):
    path = str(tmp_path / "stats_counters.json")
    counters = StatsCounters(path)
    build_message("a", 0, [_lb(10, 100)], counters)
    counters.save()

    restarted = StatsCounters(path)
    message = build_message("a", 1, [_lb(25, 100)], restarted)

    assert message["listeners"]["L1"]["stats"]["totconns"] == 15
    assert message["listeners"]["L1"]["stats"]["rx"] == 0


def test_counters_are_written_only_when_they_moved(tmp_path):
    path = tmp_path / "stats_counters.json"
    counters = StatsCounters(str(path))
    build_message("a", 0, [_lb(10, 100)], counters)
    counters.save()
    path.write_text("{}")  # a rewrite would put the counters back

    build_message("a", 1, [_lb(10, 100)], counters)  # idle: nothing moved
    counters.save()
    assert path.read_text() == "{}"

    build_message("a", 2, [_lb(11, 100)], counters)
    counters.save()
    assert StatsCounters(str(path))._last["L1"]["stot"] == 11


def test_a_new_haproxy_worker_or_a_counter_reset_sends_absolute_values(tmp_path):
    counters = StatsCounters(str(tmp_path / "c.json"))
    build_message("a", 0, [_lb(10, 100)], counters)

    after_reload = build_message("a", 1, [_lb(12, 200)], counters)
    after_reset = build_message("a", 2, [_lb(3, 200)], counters)

    assert after_reload["listeners"]["L1"]["stats"]["totconns"] == 12
    assert after_reset["listeners"]["L1"]["stats"]["totconns"] == 3


def test_destinations_parse_ipv4_and_bracketed_ipv6():
    assert parse_destination("127.0.0.1:5555") == ("127.0.0.1", 5555)
    assert parse_destination("[::1]:5555") == ("::1", 5555)
    with pytest.raises(ValueError):
        parse_destination("127.0.0.1")
