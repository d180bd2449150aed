"""What a tenant reads of a worker error (`provisioning_status_reason`)."""

from __future__ import annotations

from types import SimpleNamespace

from ostia.api import error_reason

HAPROXY_REFUSAL = (
    "AgentInvalidRequest: Invalid request: [NOTICE]   (81) : haproxy version is 2.6.12\n"
    "[NOTICE]   (81) : path to executable is /usr/sbin/haproxy\n"
    "[ALERT]    (81) : config : parsing [/var/lib/ostia/amphorae/x/lb/y/haproxy.cfg.new:28]"
    " : regex '(a)\\1' is invalid (error=reference to non-existent subpattern).\n"
    "[ALERT]    (81) : config : Error(s) found in configuration file : "
    "/var/lib/ostia/amphorae/x/lb/y/haproxy.cfg.new"
)


def test_a_haproxy_refusal_reads_without_paths_or_notices():
    text = error_reason.tenant_text(HAPROXY_REFUSAL)
    assert text == (
        "AgentInvalidRequest: Invalid request: [ALERT]    (81) : config : parsing "
        "[haproxy.cfg.new:28] : regex '(a)\\1' is invalid (error=reference to non-existent "
        "subpattern).\n[ALERT]    (81) : config : Error(s) found in configuration file : "
        "haproxy.cfg.new"
    )


def test_the_tenant_cause_is_found_behind_the_retry_prefix():
    text = error_reason.tenant_text(
        "gave up after 5 attempts; last error: HaproxyRenderError: unsafe value for "
        "listener.timeout_client_data: -5 (outside 0..2073600000)"
    )
    assert text == (
        "HaproxyRenderError: unsafe value for listener.timeout_client_data: -5 (outside 0..2073600000)"
    )


def test_urls_in_a_refused_value_are_kept():
    text = error_reason.tenant_text(
        "UnsafeValue: unsafe value for l7policy.redirect_url: 'https://example.com/a/b c'"
    )
    assert "https://example.com/a/b c" in (text or "")


def test_infrastructure_failures_stay_the_operators():
    for internal in (
        "ConnectionError: HTTPSConnectionPool(host='127.1.0.5', port=9443)",
        "after 5 attempts: ComputeBuildError: /opt/ostia/bin/agent died",
        "gave up after 5 attempts; last error: attempt interrupted",
    ):
        assert error_reason.tenant_text(internal) == error_reason.SERVICE_FAILURE
    assert error_reason.tenant_text(None) is None
    assert error_reason.tenant_text("") is None


def test_a_child_shows_its_load_balancers_reason_only_while_in_error():
    lb = SimpleNamespace(last_error="PermanentError: unknown topology 'X'")
    looked_up: list[str] = []

    def owner():  # type: ignore[no-untyped-def]
        looked_up.append("lb")
        return lb

    active = SimpleNamespace(provisioning_status="ACTIVE")
    assert error_reason.of_child(active, owner) is None
    assert looked_up == []  # no query for a healthy object
    failed = SimpleNamespace(provisioning_status="ERROR")
    assert error_reason.of_child(failed, owner) == "PermanentError: unknown topology 'X'"
    lb.last_error = None
    assert error_reason.of_child(failed, owner) == error_reason.SERVICE_FAILURE
