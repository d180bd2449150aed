"""haproxy quoting: every quoted value reads back as exactly one word, equal to the value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostia.controller.worker.haproxy.escape import (
    UnsafeValue,
    check_text,
    fetch_arg,
    ident,
    integer,
    log_format_text,
    quote,
)

# Text haproxy could read: no control characters (those are refused, not quoted).
SAFE_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=80)


def haproxy_words(line: str) -> list[str]:
    """Split a configuration line as haproxy 2.6's line parser does (the subset that matters:
    backslash escapes outside quotes, literal single quotes, double quotes with escapes,
    `#` comments, blanks between words). Environment expansion is not modelled: quote()
    never emits double quotes."""
    words: list[str] = []
    current: list[str] | None = None
    i = 0
    quote_char = ""
    while i < len(line):
        c = line[i]
        if quote_char == "'":
            if c == "'":
                quote_char = ""
            else:
                current.append(c)  # type: ignore[union-attr]
        elif quote_char == '"':
            if c == '"':
                quote_char = ""
            elif c == "\\" and i + 1 < len(line):
                i += 1
                current.append(line[i])  # type: ignore[union-attr]
            else:
                current.append(c)  # type: ignore[union-attr]
        elif c in " \t":
            if current is not None:
                words.append("".join(current))
                current = None
        elif c == "#":
            break
        else:
            if current is None:
                current = []
            if c in "'\"":
                quote_char = c
            elif c == "\\" and i + 1 < len(line):
                i += 1
                current.append(line[i])
            else:
                current.append(c)
        i += 1
    assert not quote_char, f"unterminated quote in {line!r}"
    if current is not None:
        words.append("".join(current))
    return words


@given(SAFE_TEXT)
def test_quoted_text_is_one_word_equal_to_itself(text):
    assert haproxy_words(f"acl x path -m str -- {quote(text, 'f')} # end") == [
        "acl",
        "x",
        "path",
        "-m",
        "str",
        "--",
        text,
    ]


@pytest.mark.parametrize(
    "text", ["#", "a#b", '"', "'", "\\", "a b", "}", "{", "$HOME", "'\\''", "", "-f", "%[src]"]
)
def test_awkward_values_round_trip(text):
    assert haproxy_words("x " + quote(text, "f")) == ["x", text]


def test_plain_words_stay_bare():
    assert quote("/api/v1", "f") == "/api/v1"
    assert quote("a b", "f") == "'a b'"
    assert quote("it's", "f") == "'it'\\''s'"


@pytest.mark.parametrize("bad", ["\n", "a\r", "\x00", "\t", "\x7f", "\x9b", "\u2028", "\u2029"])
def test_control_characters_are_refused(bad):
    with pytest.raises(UnsafeValue):
        quote(bad, "f")
    with pytest.raises(UnsafeValue):
        fetch_arg(bad, "f")


def test_non_strings_are_refused():
    with pytest.raises(UnsafeValue):
        check_text(3, "f")


def test_fetch_arg_escapes_backslash_and_double_quote():
    assert fetch_arg('a"b\\c', "f") == '"a\\"b\\\\c"'
    # ...and the whole fetch still goes through quote() as one word.
    expr = f"req.cook({fetch_arg('a b', 'f')})"
    assert haproxy_words("x " + quote(expr, "f")) == ["x", 'req.cook("a b")']


def test_log_format_text_escapes_percent():
    assert log_format_text("50%[x]", "f") == "50%%[x]"


def test_ident_accepts_uuids_only_shaped_names():
    assert ident("2f1c0b9e-0a4b-4d51-9d47-1c2b3a4d5e6f", "id")
    for bad in ["", "a b", "-x", "a:b", "a#b", "x" * 300]:
        with pytest.raises(UnsafeValue):
            ident(bad, "id")


def test_integer_bounds_and_types():
    assert integer(5, "n", 1, 10) == 5
    for bad in [0, 11, "5", True, None, 5.0]:
        with pytest.raises(UnsafeValue):
            integer(bad, "n", 1, 10)
