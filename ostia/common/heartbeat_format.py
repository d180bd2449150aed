"""Octavia's heartbeat datagram: zlib(JSON) followed by the hex HMAC-SHA256 of those bytes.

Shared by the agent (encode) and the health manager (decode). Version 3 messages carry
statistics as deltas since the previous message.
"""

from __future__ import annotations

import hmac
import json
import zlib
from collections.abc import Iterable
from typing import Any

import orjson

VERSION = 3
# Ostia's agents add a random id per agent start (replay protection); upstream's do not.
BOOT_ID_FIELD = "boot_id"
HEX_DIGEST_LENGTH = 64
BINARY_DIGEST_LENGTH = 32
# zlib's smallest stream (header + empty deflate block + adler32) is 8 bytes.
MIN_COMPRESSED_LENGTH = 8
MAX_DATAGRAM = 65507
_HEX_DIGITS = b"0123456789abcdef"


class HeartbeatError(ValueError):
    """A datagram that is not a valid heartbeat."""


class TruncatedHeartbeat(HeartbeatError):
    pass


class BadSignature(HeartbeatError):
    """No key produces the datagram's HMAC: wrong key, or altered in transit."""


class BadCompression(HeartbeatError):
    pass


class BadPayload(HeartbeatError):
    """The decompressed bytes are not a JSON object."""


def _key_bytes(key: str | bytes) -> bytes:
    return key.encode("utf-8") if isinstance(key, str) else key


def sign(data: bytes, key: str | bytes) -> bytes:
    """The 64-character hex HMAC-SHA256 of `data`, as ASCII bytes."""
    return hmac.digest(_key_bytes(key), data, "sha256").hex().encode("ascii")


def encode(payload: dict[str, Any], key: str | bytes) -> bytes:
    compressed = zlib.compress(json.dumps(payload, separators=(",", ":")).encode("utf-8"), 9)
    return compressed + sign(compressed, key)


def decode(datagram: bytes, keys: str | bytes | Iterable[str | bytes]) -> dict[str, Any]:
    """Verify and unpack a datagram with any of `keys` (several during a key rotation).

    Old amphorae appended the raw 32-byte digest instead of hex; that form is accepted too.
    """
    candidates = [keys] if isinstance(keys, (str, bytes)) else list(keys)
    key_list = [key for key in candidates if key]
    if len(datagram) < MIN_COMPRESSED_LENGTH + BINARY_DIGEST_LENGTH:
        raise TruncatedHeartbeat(f"datagram of {len(datagram)} bytes is too short")
    compressed = _verified_payload(datagram, key_list)
    try:
        raw = zlib.decompress(compressed)
    except zlib.error as exc:
        raise BadCompression(f"payload does not decompress: {exc}") from exc
    message = loads(raw)
    if not isinstance(message, dict):
        raise BadPayload("payload is not a JSON object")
    return message


def loads(raw: bytes) -> Any:
    """JSON from UTF-8 bytes; BadPayload if it is not.

    orjson first: a third of the cost of json.loads, which was a third of the health
    manager's receive path. What orjson refuses and json accepts (NaN, integers beyond
    64 bits) still parses, through json: the same messages are accepted as before.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadPayload(f"payload is not JSON: {exc}") from exc


def dumps(value: Any) -> bytes:
    """Compact JSON bytes of `value` (a part of a decoded message), which `loads` reads
    back equal; through json where orjson cannot (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _verified_payload(datagram: bytes, keys: list[str | bytes]) -> bytes:
    if not keys:
        raise BadSignature("no heartbeat key configured")
    tail = datagram[-HEX_DIGEST_LENGTH:]
    # translate() deleting every hex digit leaves nothing exactly when the tail is hex.
    hex_form = len(datagram) >= MIN_COMPRESSED_LENGTH + HEX_DIGEST_LENGTH and not tail.translate(
        None, _HEX_DIGITS
    )
    if hex_form:
        body = datagram[:-HEX_DIGEST_LENGTH]
        # Compared as binary digests: no hex string per key and datagram.
        expected_digest = bytes.fromhex(tail.decode("ascii"))
        for key in keys:
            if hmac.compare_digest(hmac.digest(_key_bytes(key), body, "sha256"), expected_digest):
                return body
    body, digest = datagram[:-BINARY_DIGEST_LENGTH], datagram[-BINARY_DIGEST_LENGTH:]
    for key in keys:
        expected = hmac.digest(_key_bytes(key), body, "sha256")
        if hmac.compare_digest(expected, digest):
            return body
    if hex_form:
        raise BadSignature("HMAC does not match any heartbeat key")
    raise TruncatedHeartbeat("datagram does not end with an HMAC (truncated?)")
