"""Every bound and pattern a tenant's value must meet, defined once.

The API's request schemas refuse what is outside these (400), and the haproxy renderer
checks the stored values against the same definitions before writing them (defence in
depth), so a value the API accepted is never one the renderer refuses.

Ranges follow upstream's documented limits; where upstream documents none (a monitor's
delay and timeout, a listener's connection limit), the bound is what the data plane can
run: haproxy keeps timers in milliseconds in a signed 32-bit int, and the renderer caps
the global maxconn. Every pattern is used with `fullmatch` and is ASCII-only, so neither
a trailing newline nor a non-ASCII digit ever passes.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse


@dataclasses.dataclass(frozen=True)
class Range:
    """An inclusive integer range [low, high]."""

    low: int
    high: int

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high


# Signed 32-bit integer columns (PostgreSQL `integer`).
INT32_MAX = 2**31 - 1

PORT = Range(1, 65535)
WEIGHT = Range(0, 256)
# Listener timeouts in milliseconds: 24 days, upstream's MAX_TIMEOUT, under haproxy's
# 2**31 - 1 ms timer limit.
TIMEOUT_MS = Range(0, 24 * 24 * 60 * 60 * 1000)
# Health monitor delay and timeout in seconds: the same 24 days.
HM_DELAY = Range(0, TIMEOUT_MS.high // 1000)
HM_TIMEOUT = Range(0, TIMEOUT_MS.high // 1000)
HM_MAX_RETRIES = Range(1, 10)
HM_MAX_RETRIES_DOWN = Range(1, 10)
# -1 = unlimited (the operator's default). Above this the renderer's global maxconn caps.
MAX_CONNECTIONS = 1_000_000
CONNECTION_LIMIT = Range(-1, MAX_CONNECTIONS)
HSTS_MAX_AGE = Range(0, INT32_MAX)
PERSISTENCE_TIMEOUT = Range(0, INT32_MAX)
L7POLICY_POSITION = Range(1, INT32_MAX)
HTTP_STATUS = Range(100, 599)

URL_PATH_MAX_LENGTH = 2048
EXPECTED_CODES_MAX_LENGTH = 64
DOMAIN_NAME_MAX_LENGTH = 255
TLS_CIPHERS_MAX_LENGTH = 2048

# C0 and C1 control characters, DEL, and the Unicode line/paragraph separators: anything
# a reader (haproxy, keepalived, an editor, `str.splitlines`) could take for the end of a
# line. Refused in every tenant string, and again by the renderer.
CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
HM_HTTP_VERSIONS = (1.0, 1.1)

_CODE = r"[0-9]{3}"
# "200", "200, 202" (spaces around commas allowed), or a range "200-204".
EXPECTED_CODES_LIST = re.compile(rf"{_CODE}(?:[ ]*,[ ]*{_CODE})*", re.ASCII)
EXPECTED_CODES_RANGE = re.compile(rf"({_CODE})-({_CODE})", re.ASCII)
# A DNS name (upstream's pattern): labels of letters, digits, '-' and '_' (no label starts
# or ends with '-', '_' only as a label's first character as in `_dmarc`), at most 253
# characters with an optional final dot.
DOMAIN_NAME = re.compile(r"(?=.{1,253}\.?\Z)(?:(?!-|[^.]+_)[A-Za-z0-9_-]{1,63}(?<!-)(?:\.|\Z))+", re.ASCII)
# OpenSSL cipher-string characters (upstream's own whitelist).
CIPHER_CHARS = re.compile(r"[A-Za-z0-9+!:@=_.-]*", re.ASCII)
# The key of an SSL_DN_FIELD rule: an attribute name such as CN or emailAddress.
DN_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9-]*", re.ASCII)
# The value of an SSL_VERIFY_RESULT rule: an OpenSSL verify result number.
VERIFY_RESULT = re.compile(r"[0-9]{1,10}", re.ASCII)


def expected_codes(text: str) -> list[int]:
    """The status codes `text` names ("200", "200, 202", "200-204"), in order, once each.

    ValueError when `text` is none of these forms, names a code outside 100-599, or is a
    range whose end comes before its start.
    """
    found = EXPECTED_CODES_RANGE.fullmatch(text)
    if found:
        low, high = int(found.group(1)), int(found.group(2))
        codes = list(range(low, high + 1))
        if low > high:
            raise ValueError(f"the range {text} ends before it starts")
        edges = [low, high]
    elif EXPECTED_CODES_LIST.fullmatch(text):
        codes = list(dict.fromkeys(int(code) for code in text.split(",")))
        edges = codes
    else:
        raise ValueError("expected codes must be a code (200), a list (200, 202) or a range (200-204)")
    outside = [code for code in edges if code not in HTTP_STATUS]
    if outside:
        raise ValueError(f"status code {outside[0]} is outside {HTTP_STATUS.low}-{HTTP_STATUS.high}")
    return codes


def is_domain_name(text: str) -> bool:
    return len(text) <= DOMAIN_NAME_MAX_LENGTH and DOMAIN_NAME.fullmatch(text) is not None


def is_url_path(text: str) -> bool:
    """An absolute path with an optional query: no scheme, host, space or control char."""
    if not text.startswith("/") or len(text) > URL_PATH_MAX_LENGTH:
        return False
    if any(ch.isspace() or ord(ch) < 32 or 127 <= ord(ch) <= 159 for ch in text):
        return False
    parsed = urllib.parse.urlsplit(text)
    return not parsed.scheme and not parsed.netloc
