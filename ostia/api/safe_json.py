"""JSON from tenants, decoded so that nothing after it can crash on the result.

Two things `json.loads` lets through break later layers with a 500 instead of a 400:
nesting deep enough to exhaust the interpreter's stack (in the decoder itself, in pydantic,
in the response encoder), and strings no database or UTF-8 encoder accepts (a lone UTF-16
surrogate such as "\\ud800", which JSON escapes can spell; a NUL, which PostgreSQL refuses).
Both are refused here, before any other code sees the document.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Deepest nesting any Octavia body needs is about ten (a load balancer graph with
# listeners, pools, members and L7 rules); well below what exhausts the stack.
MAX_DEPTH = 32

# A JSON string: quote, escapes or ordinary characters, then a closing quote or the end
# of the text. Accepting the end makes every match attempt succeed, so the scan stays
# linear even on an unterminated string full of escaped quotes.
_STRING = re.compile(rb'"(?:[^"\\]|\\.|\\\Z)*(?:"|\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_FORBIDDEN_CHARS = re.compile("[\x00\ud800-\udfff]")


class UnsafeJSON(ValueError):
    """A JSON text that is malformed, not UTF-8, too deep, or carries characters we never
    store; the message says which, without echoing the text."""


def loads(raw: bytes | str) -> Any:
    """Decode `raw` (UTF-8 when bytes) after bounding its depth; refuse unsafe strings."""
    if isinstance(raw, bytes):
        data = raw
        try:
            text = raw.decode("utf-8")  # JSON on the wire is UTF-8 (RFC 8259)
        except UnicodeDecodeError as err:
            raise UnsafeJSON(f"the text is not UTF-8 ({err.reason} at byte {err.start})") from None
    else:
        data, text = raw.encode("utf-8", "surrogatepass"), raw
    if nesting_exceeds(data, MAX_DEPTH):
        raise UnsafeJSON(f"nesting deeper than {MAX_DEPTH} levels, or brackets that do not balance")
    try:
        document = json.loads(text)
    except RecursionError:  # unreachable after the depth bound; kept as a last guard
        raise UnsafeJSON(f"nesting deeper than {MAX_DEPTH} levels") from None
    except ValueError as err:
        raise UnsafeJSON(str(err)) from None
    if _has_forbidden_text(document):
        raise UnsafeJSON("a string holds a NUL character or an unpaired UTF-16 surrogate (such as \\ud800)")
    return document


def nesting_exceeds(data: bytes, limit: int) -> bool:
    """Whether the brackets of `data` (outside strings) nest deeper than `limit`.

    Unbalanced brackets count as too deep. Runs in C: strings are cut out, everything but
    brackets deleted, then innermost pairs removed `limit` times.
    """
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    if len(brackets) <= limit:
        return False
    brackets = brackets.replace(b"{", b"[").replace(b"}", b"]")
    for _ in range(limit):
        if not brackets:
            return False
        brackets = brackets.replace(b"[]", b"")
    return bool(brackets)


def _has_forbidden_text(document: Any) -> bool:
    # Depth is bounded by now, so recursion here is safe.
    if isinstance(document, str):
        return _FORBIDDEN_CHARS.search(document) is not None
    if isinstance(document, dict):
        return any(_has_forbidden_text(k) or _has_forbidden_text(v) for k, v in document.items())
    if isinstance(document, list):
        return any(_has_forbidden_text(item) for item in document)
    return False
