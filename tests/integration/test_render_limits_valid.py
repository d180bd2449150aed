"""Every value at the edge of what the API accepts renders to a configuration that the real
haproxy accepts, and the API's data-plane checks (PCRE2, OpenSSL) judge as haproxy does.

Companion of test_render_haproxy_valid.py (its PKI, `haproxy -c` and file helpers).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ostia.common import constants, limits, pcre2, tls_ciphers
from tests.integration.test_render_haproxy_valid import (
    HAPROXY,
    Pki,
    haproxy_check,
    pki,
    render_in,
    tmp_path,
    write_config,
)
from tests.unit.test_render_haproxy_fixtures import (
    make_hm,
    make_lb,
    make_listener,
    make_member,
    make_policy,
    make_pool,
    make_rule,
)

pytestmark = pytest.mark.skipif(not Path(HAPROXY).exists(), reason="haproxy not installed")
__all__ = ["pki", "tmp_path"]  # fixtures used by the tests below

LONGEST_DOMAIN = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 characters


def _edge_lb(edge: str) -> Any:
    """A load balancer with every bounded tenant value at `edge` ("low" or "high")."""
    pick = (lambda r: r.high) if edge == "high" else (lambda r: r.low)
    lb = make_lb("127.0.100.10")
    timeouts = {
        name: pick(limits.TIMEOUT_MS)
        for name in (
            "timeout_client_data",
            "timeout_member_connect",
            "timeout_member_data",
            "timeout_tcp_inspect",
        )
    }
    # -1 is "the operator's default": the lowest limit a tenant can write is 0.
    connection_limit = limits.CONNECTION_LIMIT.high if edge == "high" else 0
    http = make_listener(lb, constants.HTTP, pick(limits.PORT), connection_limit=connection_limit, **timeouts)
    pool = make_pool(lb, constants.HTTP, listener=http)
    make_hm(
        pool,
        constants.HTTP,
        delay=pick(limits.HM_DELAY),
        timeout=pick(limits.HM_TIMEOUT),
        rise_threshold=pick(limits.HM_MAX_RETRIES),
        fall_threshold=pick(limits.HM_MAX_RETRIES_DOWN),
        expected_codes=(
            f"{limits.HTTP_STATUS.low}-{limits.HTTP_STATUS.high}"
            if edge == "high"
            else str(limits.HTTP_STATUS.low)
        ),
        http_version=1.1,
        domain_name=LONGEST_DOMAIN if edge == "high" else "a",
        url_path="/" + "p" * (limits.URL_PATH_MAX_LENGTH - 1) if edge == "high" else "/",
    )
    make_member(
        pool, "10.0.0.1", pick(limits.PORT), weight=pick(limits.WEIGHT), monitor_port=pick(limits.PORT)
    )
    policy = make_policy(http, "REJECT", pick(limits.L7POLICY_POSITION))
    make_rule(policy, "PATH", "STARTS_WITH", "/x")
    tls = make_listener(
        lb,
        constants.TERMINATED_HTTPS,
        443,
        tls_certificate_id="default",
        hsts_max_age=pick(limits.HSTS_MAX_AGE),
        **timeouts,
    )
    make_member(make_pool(lb, constants.HTTP, listener=tls), "10.0.0.2", 80)
    return lb


@pytest.mark.parametrize("edge", ["low", "high"])
def test_every_bound_the_api_accepts_passes_haproxy_check(tmp_path: Path, pki: Pki, edge: str) -> None:
    lb = _edge_lb(edge)
    text = render_in(lb, tmp_path)
    if edge == "low":
        # Timeouts of 0 mean "none" to haproxy (as upstream renders them): valid, with a
        # warning about exactly that and nothing else.
        accepted, output = _haproxy_accepts(lb, tmp_path, pki)
        assert accepted and "ALERT" not in output, output
        warnings = [line for line in output.splitlines() if "[WARNING]" in line]
        assert warnings and all("missing timeouts" in line for line in warnings), output
        return
    assert "Configuration file is valid" in haproxy_check(write_config(lb, text, tmp_path, pki))
    if edge == "high":
        assert f"maxconn {limits.CONNECTION_LIMIT.high}" in text
        assert f"inter {limits.HM_DELAY.high}s" in text
        assert f"weight {limits.WEIGHT.high}" in text


def _haproxy_accepts(lb: Any, tmp: Path, pki: Pki) -> tuple[bool, str]:
    cfg = write_config(lb, render_in(lb, tmp), tmp, pki)
    proc = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    return proc.returncode == 0, proc.stdout + proc.stderr


def _api_accepts(check: Any, value: str) -> bool:
    try:
        check(value)
    except ValueError:
        return False
    return True


# Regexes where Python's `re` and PCRE2 disagree, and ordinary ones.
REGEXES = [
    r"^/api/v[0-9]+/",
    r"a\Kb",
    r"(a)\1",
    r"\N{LATIN SMALL LETTER A}",
    r"\u0041",
    r"(?P<n>a)(?P=n)",
    r"[[:alpha:]]+",
    r"x{2,1}",
    r"(?<=a+)b",
    r"[z-a]",
]


@pytest.mark.parametrize("regex", REGEXES)
def test_the_apis_regex_check_agrees_with_haproxy(tmp_path: Path, pki: Pki, regex: str) -> None:
    lb = make_lb()
    http = make_listener(lb, constants.HTTP, 80)
    make_rule(make_policy(http, "REJECT", 1), "PATH", "REGEX", regex)
    accepted, output = _haproxy_accepts(lb, tmp_path, pki)
    assert _api_accepts(pcre2.check_regex, regex) == accepted, output


# Every cipher string the API accepts, haproxy accepts; the ones that select nothing,
# haproxy refuses too. (A known name next to an unknown one: haproxy's OpenSSL drops the
# unknown one silently; the API refuses it as the typo it is.)
CIPHERS = {
    "ECDHE-RSA-AES128-GCM-SHA256": True,
    "HIGH:!aNULL:@STRENGTH": True,
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256": True,
    "ECDHE-RSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256": True,
    "NOT-A-CIPHER": False,
    "TLS_NOT_A_SUITE": False,
    "HIGH:!HIGH": False,
}


@pytest.mark.parametrize("ciphers, accepted", CIPHERS.items())
def test_the_apis_cipher_check_agrees_with_haproxy(
    tmp_path: Path, pki: Pki, ciphers: str, accepted: bool
) -> None:
    assert _api_accepts(tls_ciphers.check_cipher_string, ciphers) == accepted
    lb = make_lb()
    tls = make_listener(
        lb, constants.TERMINATED_HTTPS, 443, tls_certificate_id="default", tls_ciphers=ciphers
    )
    make_member(make_pool(lb, constants.HTTP, listener=tls), "10.0.0.2", 80)
    haproxy_ok, output = _haproxy_accepts(lb, tmp_path, pki)
    assert haproxy_ok == accepted, output


def _linked(binary: str) -> dict[str, str]:
    """soname prefix -> real path of the shared libraries `binary` links (ldd)."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
            found[parts[0].split(".so")[0]] = os.path.realpath(parts[2])
    return found


def _mapped() -> set[str]:
    with open("/proc/self/maps") as maps:
        return {
            os.path.realpath(line.split()[-1]) for line in maps if line.rstrip().split()[-1].startswith("/")
        }


def test_the_api_checks_with_the_very_libraries_haproxy_links() -> None:
    pcre2.check_regex("a+")
    tls_ciphers.check_cipher_string("TLS_AES_128_GCM_SHA256:HIGH")
    linked = _linked(shutil.which("haproxy") or HAPROXY)
    mapped = _mapped()
    for library in ("libpcre2-8", "libssl", "libcrypto"):
        assert library in linked, linked
        assert linked[library] in mapped, (library, linked[library])
