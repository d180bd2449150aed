"""Turn values into haproxy configuration arguments that cannot add a line or a directive.

haproxy 2.6 reads a configuration line in two stages, and a value must survive both:

1. The line parser splits words on spaces and strips one level of quoting. Inside single
   quotes nothing is interpreted (no `\\` escapes, no `$VAR` expansion, `#` is not a comment);
   words concatenate, so `'a'\\''b'` is the single word `a'b`. `quote()` uses that form.
   Only a newline ends a directive, so control characters are refused outright
   (`UnsafeValue`), never escaped.
2. Some keywords parse their word again: sample-fetch arguments such as
   `req.cook(<name>)` split on `,` and `)` and honour double quotes with backslash escapes
   (`fetch_arg()`); log-format strings treat `%` as the start of a tag (`log_format_text()`);
   ACL pattern lists treat a leading `-` as a flag, which the renderer ends with `--`.

Identifiers (UUIDs) are checked against a strict pattern and written bare; addresses and
CIDRs are parsed again and written in their canonical form (`ip_address()`, `cidr()`), the
same check the API makes before storing them (ostia.common.addresses).
"""

from __future__ import annotations

import re

from ostia.common import addresses, limits
from ostia.common.exceptions import OstiaError

# Anything a reader could take for the end of a line (the API refuses the same set).
_CONTROL = limits.CONTROL_CHARS
# Words that need no quoting to be read back unchanged.
_BARE = re.compile(r"[A-Za-z0-9_.:/@%+=,-]+")
_IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")


class HaproxyRenderError(OstiaError, ValueError):
    """The object graph cannot be rendered into a haproxy configuration."""


class UnsafeValue(HaproxyRenderError):
    """A value that could change the configuration's structure reached the renderer."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        super().__init__(f"unsafe value for {field}: {value!r} ({reason})")
        self.field = field
        self.value = value


def check_text(value: object, field: str) -> str:
    """`value` as a str, or UnsafeValue if it is not a str or holds a control character."""
    if not isinstance(value, str):
        raise UnsafeValue(field, value, "not a string")
    if _CONTROL.search(value):
        raise UnsafeValue(field, value, "control character")
    return value


def quote(value: object, field: str) -> str:
    """One configuration word that haproxy's line parser reads back as exactly `value`."""
    text = check_text(value, field)
    if _BARE.fullmatch(text):
        return text
    return "'" + text.replace("'", "'\\''") + "'"


def fetch_arg(value: object, field: str) -> str:
    """`value` as one argument inside a sample fetch's parentheses, e.g. `req.cook(<here>)`.

    The result still has to go through `quote()` as part of the whole fetch expression.
    """
    text = check_text(value, field)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def log_format_text(value: object, field: str) -> str:
    """`value` as literal text inside a log-format string (`%` would start a tag)."""
    return check_text(value, field).replace("%", "%%")


def ident(value: object, field: str) -> str:
    """An object id used as a proxy, server or ACL name: checked, written bare."""
    text = check_text(value, field)
    if not _IDENT.fullmatch(text):
        raise UnsafeValue(field, value, "not an identifier")
    return text


def ip_address(value: object, field: str) -> str:
    """A plain IPv4/IPv6 address in canonical form; a zone id (`fe80::1%...`, which may
    hold spaces and `#`), a blank or anything else is UnsafeValue."""
    try:
        return addresses.canonical_address(check_text(value, field))
    except addresses.InvalidAddress:
        raise UnsafeValue(field, value, "not a plain IP address") from None


def cidr(value: object, field: str) -> str:
    """A CIDR (`address/prefix`) in canonical form, else UnsafeValue."""
    try:
        return addresses.canonical_cidr(check_text(value, field))
    except addresses.InvalidAddress:
        raise UnsafeValue(field, value, "not a CIDR") from None


def matching(value: object, field: str, pattern: re.Pattern[str], what: str) -> str:
    """`value` if it matches `pattern` entirely, else UnsafeValue naming `what` was expected."""
    text = check_text(value, field)
    if not pattern.fullmatch(text):
        raise UnsafeValue(field, value, f"not {what}")
    return text


def integer(value: object, field: str, low: int, high: int) -> int:
    """An int within [low, high]; bools and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnsafeValue(field, value, "not an integer")
    if not low <= value <= high:
        raise UnsafeValue(field, value, f"outside {low}..{high}")
    return value
