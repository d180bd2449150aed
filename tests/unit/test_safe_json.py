"""The tenant JSON decoder: depth bound, refused characters, and no slow paths."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostia.api import errors, safe_json


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


DOCUMENTS = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(alphabet='[]{}"\\,:ab', max_size=8)),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\ab', max_size=4), children, max_size=3)
    ),
    max_leaves=40,
)


@given(DOCUMENTS, st.integers(min_value=0, max_value=12))
def test_depth_bound_matches_the_real_depth(document, limit):
    """Brackets inside strings (escaped quotes included) never count."""
    text = json.dumps(document).encode()
    assert safe_json.nesting_exceeds(text, limit) == (_depth(document) > limit)


@pytest.mark.parametrize("depth", [33, 1000, 50000])
def test_deeper_than_the_bound_is_refused_before_decoding(depth):
    for text in ("[" * depth + "]" * depth, '{"a": ' * depth + "1" + "}" * depth):
        with pytest.raises(safe_json.UnsafeJSON, match="nesting deeper than 32"):
            safe_json.loads(text.encode())
    assert safe_json.loads(b"[" * 32 + b"]" * 32) is not None


@pytest.mark.parametrize(
    "text", ['"\\ud800"', '["a", {"b": "x\\udfff"}]', '{"\\udbff": 1}', '"\\u0000"', '{"k": ["\\u0000"]}']
)
def test_lone_surrogates_and_nul_are_refused_anywhere(text):
    with pytest.raises(safe_json.UnsafeJSON, match="NUL character or an unpaired"):
        safe_json.loads(text.encode())


def test_pairs_and_other_text_pass():
    assert safe_json.loads(b'{"e": "\\ud83d\\ude00", "t": "caf\\u00e9 \xe2\x82\xac"}') == {
        "e": "\U0001f600",
        "t": "caf\u00e9 \u20ac",
    }
    assert safe_json.loads('{"already": "text"}') == {"already": "text"}


@pytest.mark.parametrize("raw", [b"\xff", b'"\xed\xa0\x80"', b"\xfe\xff\x00[\x00]", b'{"a": "\xc3"}'])
def test_bytes_that_are_not_utf8_are_refused(raw):
    with pytest.raises(safe_json.UnsafeJSON, match="not UTF-8"):
        safe_json.loads(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'"' + b'\\"' * 60000,  # one unterminated string of escaped quotes
        b'"\\' * 60000,  # quotes and backslashes alternating
        b'"' * 120000,
        b"\\" * 120000,
        b"[" * 120000,
        b"[]" * 60000,
        b'["a",' * 25000 + b"1" + b"]" * 25000,
    ],
)
def test_pathological_bodies_are_judged_in_linear_time(raw):
    started = time.perf_counter()
    with pytest.raises(safe_json.UnsafeJSON):
        safe_json.loads(raw)
    assert time.perf_counter() - started < 1.0


def test_fault_bodies_encode_even_a_lone_surrogate():
    """An echoed value with a lone surrogate must not break the response encoder."""
    response = errors.fault(400, "Invalid value 'a\ud800b'.")
    body = json.loads(response.body)
    assert body["faultstring"] == "Invalid value 'a\\ud800b'."
