"""The shared definitions of tenant value bounds and patterns (ostia/common/limits.py)."""

from __future__ import annotations

import typing

import pytest

from ostia.api.v2 import healthmonitors
from ostia.common import constants, limits


@pytest.mark.parametrize(
    "text, codes",
    [
        ("200", [200]),
        ("200, 202", [200, 202]),
        ("200,200", [200]),
        ("204-206", [204, 205, 206]),
        ("100-599", list(range(100, 600))),
    ],
)
def test_expected_codes_forms(text, codes):
    assert limits.expected_codes(text) == codes


@pytest.mark.parametrize(
    "text",
    [
        "200\n",
        "\n200",
        "200 ",
        "20",
        "2000",
        "600",
        "099",
        "500-200",
        "100-600",
        "\u0662\u0660\u0660",
        "200,\t202",
        "200-204,300",
        "",
        "2OO",
    ],
)
def test_expected_codes_refused(text):
    with pytest.raises(ValueError):
        limits.expected_codes(text)


def test_a_range_may_not_run_backwards_even_inside_the_status_range():
    with pytest.raises(ValueError, match="ends before it starts"):
        limits.expected_codes("204-200")


@pytest.mark.parametrize(
    "name, ok",
    [
        ("example.com", True),
        ("example.com.", True),
        ("a", True),
        ("_dmarc.example.com", True),
        ("example.com\n", False),
        ("exämple.com", False),
        ("-a.com", False),
        ("a-.com", False),
        ("a..com", False),
        ("exam_ple.com", False),
        ("a" * 64, False),
        (".".join(["a" * 63] * 4), False),
        ("", False),
    ],
)
def test_domain_names(name, ok):
    assert limits.is_domain_name(name) is ok


def test_patterns_are_ascii_only():
    for pattern in (
        limits.EXPECTED_CODES_LIST,
        limits.EXPECTED_CODES_RANGE,
        limits.DOMAIN_NAME,
        limits.CIPHER_CHARS,
        limits.DN_FIELD,
        limits.VERIFY_RESULT,
    ):
        assert pattern.flags & 256, pattern.pattern  # re.ASCII


def test_ranges_hold_ints_only():
    assert 256 in limits.WEIGHT and 257 not in limits.WEIGHT
    assert True not in limits.PORT and "80" not in limits.PORT


def test_bounds_fit_haproxy_and_the_database():
    # haproxy keeps timers in milliseconds in a signed 32-bit int.
    assert limits.TIMEOUT_MS.high < 2**31
    assert limits.HM_DELAY.high * 1000 < 2**31
    assert limits.CONNECTION_LIMIT.high <= limits.INT32_MAX


def test_the_apis_http_methods_are_the_renderers():
    assert typing.get_args(healthmonitors.HttpMethod) == constants.HTTP_METHODS
