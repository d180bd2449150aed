"""The haproxy renderer: which directives each part of a load balancer graph becomes."""

from __future__ import annotations

import pytest

from ostia.amphora.agent import ping_wrapper_script
from ostia.amphora.paths import AgentPaths
from ostia.common import constants
from ostia.controller.worker.haproxy.render import (
    HaproxyRenderError,
    UnsafeValue,
    haproxy_listeners,
)
from tests.unit.test_render_haproxy_fixtures import (
    conf,
    directives,
    make_hm,
    make_lb,
    make_listener,
    make_member,
    make_policy,
    make_pool,
    make_rule,
    render,
    section,
)


def frontend(text: str, listener) -> list[str]:
    return section(text, f"frontend {listener.id}")


def backend(text: str, pool, listener) -> list[str]:
    return section(text, f"backend {pool.id}:{listener.id}")


def server_line(lines: list[str], member) -> str:
    return next(line for line in lines if line.startswith(f"server {member.id} "))


# --- global and defaults -------------------------------------------------------------------


def test_global_section_has_master_worker_socket_and_hard_stop():
    lb = make_lb()
    make_listener(lb, constants.HTTP, 80)
    text = render(lb, base_path="/srv/amp", hard_stop_after=120)
    glob = section(text, "global")
    assert "master-worker" in glob
    assert f"stats socket /srv/amp/{lb.id}.sock mode 0666 level admin" in glob
    # The agent names the pid file on haproxy's command line (-p); a second one in the
    # configuration makes haproxy log an alert on every start.
    assert "pidfile" not in glob
    assert "hard-stop-after 120s" in glob
    assert f"server-state-file /srv/amp/{lb.id}/servers-state" in glob
    assert "load-server-state-from-file global" in section(text, "defaults")


def test_server_state_file_can_be_left_out():
    lb = make_lb()
    make_listener(lb)
    text = render(lb, server_state=False)
    assert "server-state-file" not in text
    assert "load-server-state-from-file" not in text


def test_defaults_retry_and_redispatch_and_timeouts_from_config():
    lb = make_lb()
    make_listener(lb)
    defaults = section(render(lb, conf(timeout_member_connect=1234)), "defaults")
    assert "retries 3" in defaults
    assert "option redispatch" in defaults
    assert "timeout connect 1234" in defaults
    assert "timeout client 50000" in defaults
    assert "timeout server 50000" in defaults


def test_global_maxconn_sums_listener_limits_with_default_for_unlimited():
    lb = make_lb()
    make_listener(lb, constants.HTTP, 80, connection_limit=100)
    make_listener(lb, constants.TCP, 81, connection_limit=-1)
    make_listener(lb, constants.TCP, 82, connection_limit=None)
    text = render(lb, conf(default_connection_limit=1000))
    assert "maxconn 2100" in section(text, "global")


def test_global_maxconn_is_capped_at_one_million():
    lb = make_lb()
    for port in range(80, 85):
        make_listener(lb, constants.TCP, port, connection_limit=400_000)
    assert "maxconn 1000000" in section(render(lb), "global")


def test_no_log_lines_without_targets():
    lb = make_lb()
    make_listener(lb)
    text = render(lb)
    assert not any(line.startswith("log ") for line in directives(text))
    assert "no log" in section(text, "defaults")
    assert "log-format" not in text


def test_log_targets_add_global_logs_and_tenant_log_format():
    lb = make_lb(project_id="p%1")
    listener = make_listener(lb)
    text = render(lb, log_targets=["127.0.0.1:514"])
    glob = section(text, "global")
    assert "log 127.0.0.1:514 local0" in glob
    assert "log 127.0.0.1:514 local1 notice" in glob
    assert "log global" in section(text, "defaults")
    log_format = next(line for line in frontend(text, listener) if line.startswith("log-format"))
    # The project id is tenant data inside a log-format: its % is escaped.
    assert log_format.startswith(f"log-format 'p%%1 {lb.id} %f ")


def test_http_reuse_is_haproxys_default_unless_the_operator_sets_it():
    lb = make_lb()
    listener = make_listener(lb, protocol=constants.HTTP)
    pool = make_pool(lb, listener=listener)
    assert not [line for line in render(lb, conf()).splitlines() if "http-reuse" in line]
    lines = backend(render(lb, conf(http_reuse="always")), pool, listener)
    assert "http-reuse always" in lines


def test_connection_logging_off_means_no_log():
    lb = make_lb()
    make_listener(lb)
    text = render(lb, conf(connection_logging=False), log_targets=["127.0.0.1:514"])
    assert "no log" in section(text, "defaults")
    assert "log-format" not in text


def test_tcp_listener_log_format_drops_http_only_tags():
    lb = make_lb()
    listener = make_listener(lb, constants.TCP, 81)
    lines = frontend(render(lb, log_targets=["/dev/log"]), listener)
    log_format = next(line for line in lines if line.startswith("log-format"))
    assert "%{+Q}r" not in log_format and " - %ST" in log_format


def test_external_check_only_with_an_enabled_ping_monitor():
    lb = make_lb()
    listener = make_listener(lb, constants.TCP, 80)
    pool = make_pool(lb, constants.TCP, listener=listener)
    hm = make_hm(pool, constants.HM_PING)
    glob = section(render(lb), "global")
    assert "external-check" in glob and "insecure-fork-wanted" in glob
    hm.enabled = False
    assert "external-check" not in section(render(lb), "global")


# --- frontends -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "mode"),
    [
        (constants.HTTP, "http"),
        (constants.TERMINATED_HTTPS, "http"),
        (constants.PROMETHEUS, "http"),
        (constants.TCP, "tcp"),
        (constants.HTTPS, "tcp"),
    ],
)
def test_listener_protocol_sets_frontend_mode(protocol, mode):
    lb = make_lb()
    kw = {"tls_certificate_id": "cert-1"} if protocol == constants.TERMINATED_HTTPS else {}
    listener = make_listener(lb, protocol, 443, **kw)
    assert f"mode {mode}" in frontend(render(lb), listener)


def test_frontend_binds_every_vip_with_limits_and_client_timeout():
    lb = make_lb("127.0.100.10", additional=("127.0.100.11", "fd00::5"))
    listener = make_listener(lb, constants.HTTP, 8080, connection_limit=77, timeout_client_data=1500)
    lines = frontend(render(lb), listener)
    assert "bind 127.0.100.10:8080" in lines
    assert "bind 127.0.100.11:8080" in lines
    assert "bind fd00::5:8080" in lines
    assert "maxconn 77" in lines
    assert "timeout client 1500" in lines


def test_http_frontends_close_idle_connections_on_reload():
    lb = make_lb()
    http = make_listener(lb, constants.HTTP, 80)
    tcp = make_listener(lb, constants.TCP, 81)
    text = render(lb)
    assert "option idle-close-on-response" in frontend(text, http)
    assert "option idle-close-on-response" not in frontend(text, tcp)


def test_tcp_inspect_delay_only_when_positive():
    lb = make_lb()
    listener = make_listener(lb, constants.TCP, 80, timeout_tcp_inspect=0)
    assert not any("inspect-delay" in line for line in frontend(render(lb), listener))
    listener.timeout_tcp_inspect = 2500
    assert "tcp-request inspect-delay 2500" in frontend(render(lb), listener)


def test_disabled_and_deleted_listeners_are_not_rendered():
    lb = make_lb()
    kept = make_listener(lb, constants.HTTP, 80)
    off = make_listener(lb, constants.HTTP, 81, enabled=False)
    gone = make_listener(lb, constants.HTTP, 82, provisioning_status=constants.PENDING_DELETE)
    text = render(lb)
    assert f"frontend {kept.id}" in text
    assert off.id not in text and gone.id not in text
    assert haproxy_listeners(lb) == [kept]


def test_udp_and_sctp_listeners_are_only_a_comment():
    lb = make_lb()
    make_listener(lb, constants.HTTP, 80)
    udp = make_listener(lb, constants.UDP, 53)
    text = render(lb)
    assert f"# listener {udp.id} (UDP) is not served by haproxy" in text
    assert f"frontend {udp.id}" not in text


def test_disabled_load_balancer_serves_no_listener():
    lb = make_lb()
    make_listener(lb)
    lb.enabled = False
    assert haproxy_listeners(lb) == []


def test_listener_without_default_pool_has_no_default_backend():
    lb = make_lb()
    listener = make_listener(lb)
    text = render(lb)
    assert not any(line.startswith("default_backend") for line in frontend(text, listener))
    assert "# no default pool: unmatched requests answer 503" in text


def test_default_pool_becomes_default_backend():
    lb = make_lb()
    listener = make_listener(lb)
    pool = make_pool(lb, listener=listener)
    assert f"default_backend {pool.id}:{listener.id}" in frontend(render(lb), listener)


def test_pending_delete_default_pool_is_not_rendered():
    lb = make_lb()
    listener = make_listener(lb)
    pool = make_pool(lb, listener=listener, provisioning_status=constants.PENDING_DELETE)
    text = render(lb)
    assert pool.id not in text


def test_allowed_cidrs_reject_other_sources():
    lb = make_lb()
    listener = make_listener(lb, allowed_cidrs=["10.0.0.0/8", "192.168.1.7/24", "fd00::/64"])
    lines = frontend(render(lb), listener)
    assert "acl ostia_allowed_cidr src 10.0.0.0/8 192.168.1.0/24 fd00::/64" in lines
    assert "tcp-request connection reject unless ostia_allowed_cidr" in lines


def test_many_allowed_cidrs_are_split_under_haproxys_word_limit():
    lb = make_lb()
    listener = make_listener(lb, allowed_cidrs=[f"10.{i}.0.0/16" for i in range(120)])
    acls = [line for line in frontend(render(lb), listener) if line.startswith("acl ostia_allowed_cidr")]
    assert len(acls) == 3
    assert all(len(line.split()) <= 64 for line in acls)


def test_bad_allowed_cidr_is_unsafe():
    lb = make_lb()
    make_listener(lb, allowed_cidrs=["10.0.0.0/8 # x"])
    with pytest.raises(UnsafeValue):
        render(lb)


def test_prometheus_listener_exposes_the_exporter():
    lb = make_lb()
    listener = make_listener(lb, constants.PROMETHEUS, 9100)
    lines = frontend(render(lb), listener)
    assert "http-request use-service prometheus-exporter if { path /metrics }" in lines
    assert "http-request return status 404" in lines
    assert not any(line.startswith("default_backend") for line in lines)


def test_lb_without_vip_address_cannot_be_rendered():
    lb = make_lb(vip=None)
    make_listener(lb)
    with pytest.raises(HaproxyRenderError):
        render(lb)


# --- inserted headers ----------------------------------------------------------------------


def test_insert_headers_on_http_listener():
    lb = make_lb()
    listener = make_listener(
        lb,
        insert_headers={
            "X-Forwarded-For": "true",
            "X-Forwarded-Port": "True",
            "X-Forwarded-Proto": "true",
            "X-Real-IP": "true",
            "X-Client-IP": "false",
            "X-Forwarded-IP": "true",
        },
    )
    pool = make_pool(lb, listener=listener)
    lines = backend(render(lb), pool, listener)
    assert "option forwardfor" in lines
    assert "http-request set-header X-Forwarded-Port %[dst_port]" in lines
    assert "http-request set-header X-Forwarded-Proto http" in lines
    assert "http-request set-header X-Real-IP %[src]" in lines
    assert "http-request set-header X-Forwarded-IP %[src]" in lines
    assert not any("X-Client-IP" in line for line in lines)


def test_ssl_client_headers_only_on_terminated_https():
    lb = make_lb()
    headers = {"X-SSL-Client-CN": "true", "X-SSL-Client-Verify": "true", "X-Forwarded-Proto": "true"}
    tls = make_listener(lb, constants.TERMINATED_HTTPS, 443, tls_certificate_id="c1", insert_headers=headers)
    http = make_listener(lb, constants.HTTP, 80, insert_headers=headers)
    pool_tls = make_pool(lb, listener=tls)
    pool_http = make_pool(lb, listener=http)
    text = render(lb)
    tls_lines = backend(text, pool_tls, tls)
    assert "http-request set-header X-SSL-Client-CN '%{+Q}[ssl_c_s_dn(cn)]'" in tls_lines
    assert "http-request set-header X-SSL-Client-Verify '%[ssl_c_verify]'" in tls_lines
    assert "http-request set-header X-Forwarded-Proto https" in tls_lines
    assert not any("X-SSL" in line for line in backend(text, pool_http, http))


# --- TLS termination -----------------------------------------------------------------------


def test_terminated_https_bind_uses_crt_list_client_auth_and_versions():
    lb = make_lb()
    listener = make_listener(
        lb,
        constants.TERMINATED_HTTPS,
        443,
        tls_certificate_id="cert-a",
        sni_container_refs=["cert-b"],
        client_ca_tls_certificate_id="ca-1",
        client_authentication="MANDATORY",
        client_crl_container_id="crl-1",
        tls_versions=["TLSv1.2", "TLSv1.3"],
        alpn_protocols=["h2", "http/1.1"],
        tls_ciphers="TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256",
    )
    text = render(lb, cert_dir="/c")
    bind = next(line for line in frontend(text, listener) if line.startswith("bind "))
    d = f"/c/{lb.id}"
    assert bind == (
        f"bind 127.0.100.10:443 ssl crt-list {d}/{listener.id}.pem "
        f"ca-file {d}/{listener.id}-ca.pem verify required crl-file {d}/{listener.id}-crl.pem "
        "ciphers ECDHE-RSA-AES128-GCM-SHA256 ciphersuites TLS_AES_128_GCM_SHA256 "
        "no-sslv3 no-tlsv10 no-tlsv11 alpn h2,http/1.1"
    )


@pytest.mark.parametrize(("auth", "verify"), [("NONE", "none"), ("OPTIONAL", "optional")])
def test_client_authentication_maps_to_verify(auth, verify):
    lb = make_lb()
    listener = make_listener(
        lb,
        constants.TERMINATED_HTTPS,
        443,
        tls_certificate_id="c",
        client_ca_tls_certificate_id="ca",
        client_authentication=auth,
    )
    assert f" verify {verify} " in next(
        line for line in frontend(render(lb), listener) if line.startswith("bind")
    )


def test_terminated_https_defaults_come_from_api_settings():
    lb = make_lb()
    listener = make_listener(lb, constants.TERMINATED_HTTPS, 443, tls_certificate_id="c")
    bind = next(line for line in frontend(render(lb), listener) if line.startswith("bind"))
    assert "no-tlsv10 no-tlsv11 alpn h2,http/1.1,http/1.0" in bind
    assert "ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384" in bind
    assert " verify " not in bind


def test_terminated_https_without_certificate_cannot_be_rendered():
    lb = make_lb()
    make_listener(lb, constants.TERMINATED_HTTPS, 443)
    with pytest.raises(HaproxyRenderError):
        render(lb)


def test_hsts_header_on_terminated_https():
    lb = make_lb()
    listener = make_listener(
        lb,
        constants.TERMINATED_HTTPS,
        443,
        tls_certificate_id="c",
        hsts_max_age=31536000,
        hsts_include_subdomains=True,
        hsts_preload=True,
    )
    assert (
        "http-response set-header Strict-Transport-Security 'max-age=31536000; includeSubDomains; preload'"
    ) in frontend(render(lb), listener)


def test_unknown_tls_version_is_unsafe():
    lb = make_lb()
    make_listener(
        lb, constants.TERMINATED_HTTPS, 443, tls_certificate_id="c", tls_versions=["TLSv1.2 crt /etc/shadow"]
    )
    with pytest.raises(UnsafeValue):
        render(lb)


# --- L7 policies ---------------------------------------------------------------------------


def test_l7_actions_render_in_upstream_precedence_and_position_order():
    lb = make_lb()
    listener = make_listener(lb)
    pool = make_pool(lb)
    to_pool = make_policy(listener, "REDIRECT_TO_POOL", 1, redirect_pool=pool)
    r1 = make_rule(to_pool, "PATH", "STARTS_WITH", "/api")
    url = make_policy(listener, "REDIRECT_TO_URL", 2, redirect_url="https://e.com/x", redirect_http_code=301)
    r2 = make_rule(url, "HOST_NAME", "EQUAL_TO", "old.example.com")
    reject = make_policy(listener, "REJECT", 3)
    r3 = make_rule(reject, "PATH", "CONTAINS", "admin")
    prefix = make_policy(listener, "REDIRECT_PREFIX", 4, redirect_prefix="https://p.com")
    r4 = make_rule(prefix, "PATH", "ENDS_WITH", ".php", invert=True)
    rules = [
        line
        for line in frontend(render(lb), listener)
        if line.split()[0] in ("http-request", "redirect", "use_backend")
    ]
    assert rules == [
        f"http-request deny if {r3.id}",
        f"redirect code 301 location https://e.com/x if {r2.id}",
        f"redirect code 302 prefix https://p.com if !{r4.id}",
        f"use_backend {pool.id}:{listener.id} if {r1.id}",
    ]


def test_redirect_to_pool_policies_keep_position_order():
    lb = make_lb()
    listener = make_listener(lb)
    pools = [make_pool(lb), make_pool(lb)]
    second = make_policy(listener, "REDIRECT_TO_POOL", 2, redirect_pool=pools[1])
    make_rule(second, "PATH", "STARTS_WITH", "/b")
    first = make_policy(listener, "REDIRECT_TO_POOL", 1, redirect_pool=pools[0])
    make_rule(first, "PATH", "STARTS_WITH", "/a")
    uses = [line for line in frontend(render(lb), listener) if line.startswith("use_backend")]
    assert [u.split()[1].split(":")[0] for u in uses] == [pools[0].id, pools[1].id]


def test_all_rules_of_a_policy_must_match():
    lb = make_lb()
    listener = make_listener(lb)
    policy = make_policy(listener, "REJECT", 1)
    a = make_rule(policy, "PATH", "STARTS_WITH", "/a")
    b = make_rule(policy, "HEADER", "EQUAL_TO", "1", key="X-Test", invert=True)
    assert f"http-request deny if {a.id} !{b.id}" in frontend(render(lb), listener)


def test_disabled_rules_and_policies_and_empty_policies_are_skipped():
    lb = make_lb()
    listener = make_listener(lb)
    policy = make_policy(listener, "REJECT", 1)
    kept = make_rule(policy, "PATH", "STARTS_WITH", "/a")
    off = make_rule(policy, "PATH", "STARTS_WITH", "/b", enabled=False)
    disabled = make_policy(listener, "REJECT", 2, enabled=False)
    make_rule(disabled, "PATH", "STARTS_WITH", "/c")
    empty = make_policy(listener, "REJECT", 3)
    make_rule(empty, "PATH", "STARTS_WITH", "/d", enabled=False)
    lines = frontend(render(lb), listener)
    assert [line for line in lines if line.startswith("http-request deny")] == [
        f"http-request deny if {kept.id}"
    ]
    assert not any(off.id in line for line in lines)


def test_redirect_to_pool_policy_reaches_a_pool_without_listener():
    lb = make_lb()
    listener = make_listener(lb)
    pool = make_pool(lb)
    make_member(pool)
    policy = make_policy(listener, "REDIRECT_TO_POOL", 1, redirect_pool=pool)
    make_rule(policy, "PATH", "STARTS_WITH", "/x")
    assert f"backend {pool.id}:{listener.id}" in render(lb)


def test_redirect_to_deleted_pool_is_dropped():
    lb = make_lb()
    listener = make_listener(lb)
    pool = make_pool(lb, provisioning_status=constants.PENDING_DELETE)
    policy = make_policy(listener, "REDIRECT_TO_POOL", 1, redirect_pool=pool)
    rule = make_rule(policy, "PATH", "STARTS_WITH", "/x")
    text = render(lb)
    assert pool.id not in text and rule.id not in text


def test_l7_policies_are_not_applied_to_tcp_listeners():
    lb = make_lb()
    listener = make_listener(lb, constants.TCP, 80)
    policy = make_policy(listener, "REJECT", 1)
    rule = make_rule(policy, "PATH", "STARTS_WITH", "/x")
    text = render(lb)
    assert rule.id not in text
    assert "# L7 policies need an HTTP listener; not applied" in text


@pytest.mark.parametrize(
    ("rule_type", "compare", "value", "key", "acl"),
    [
        (
            "HOST_NAME",
            "EQUAL_TO",
            "www.example.com",
            None,
            "'req.hdr(host),host_only' -i -m str -- www.example.com",
        ),
        (
            "HOST_NAME",
            "ENDS_WITH",
            ".example.com",
            None,
            "'req.hdr(host),host_only' -i -m end -- .example.com",
        ),
        ("PATH", "REGEX", "^/api/v[0-9]+$", None, "path -m reg -- '^/api/v[0-9]+$'"),
        ("PATH", "STARTS_WITH", "/api", None, "path -m beg -- /api"),
        ("PATH", "CONTAINS", "admin", None, "path -m sub -- admin"),
        ("FILE_TYPE", "EQUAL_TO", "jpg", None, "'path,field(-1,.)' -m str -- jpg"),
        ("FILE_TYPE", "EQUAL_TO", ".png", None, "'path,field(-1,.)' -m str -- png"),
        ("FILE_TYPE", "REGEX", "^(jpe?g|png)$", None, "'path,field(-1,.)' -m reg -- '^(jpe?g|png)$'"),
        ("HEADER", "EQUAL_TO", "abc", "X-Api-Key", "'req.fhdr(\"X-Api-Key\")' -m str -- abc"),
        ("COOKIE", "STARTS_WITH", "v1", "session", "'req.cook(\"session\")' -m beg -- v1"),
        ("SSL_CONN_HAS_CERT", "EQUAL_TO", "TRUE", None, "ssl_c_used"),
        ("SSL_VERIFY_RESULT", "EQUAL_TO", "0", None, "ssl_c_verify -m int -- 0"),
        ("SSL_DN_FIELD", "EQUAL_TO", "client1", "CN", "'ssl_c_s_dn(CN)' -m str -- client1"),
    ],
)
def test_rule_types_become_acls(rule_type, compare, value, key, acl):
    lb = make_lb()
    listener = make_listener(lb, constants.TERMINATED_HTTPS, 443, tls_certificate_id="c")
    policy = make_policy(listener, "REJECT", 1)
    rule = make_rule(policy, rule_type, compare, value, key=key)
    assert f"acl {rule.id} {acl}" in frontend(render(lb), listener)


def test_ssl_conn_has_cert_false_negates():
    lb = make_lb()
    listener = make_listener(lb, constants.TERMINATED_HTTPS, 443, tls_certificate_id="c")
    policy = make_policy(listener, "REJECT", 1)
    rule = make_rule(policy, "SSL_CONN_HAS_CERT", "EQUAL_TO", "false")
    assert f"http-request deny if !{rule.id}" in frontend(render(lb), listener)


def test_values_that_look_like_acl_flags_stay_patterns():
    lb = make_lb()
    listener = make_listener(lb)
    policy = make_policy(listener, "REJECT", 1)
    rule = make_rule(policy, "PATH", "EQUAL_TO", "-f /etc/passwd")
    assert f"acl {rule.id} path -m str -- '-f /etc/passwd'" in frontend(render(lb), listener)


def test_unknown_redirect_code_is_unsafe():
    lb = make_lb()
    listener = make_listener(lb)
    policy = make_policy(listener, "REDIRECT_TO_URL", 1, redirect_url="http://x", redirect_http_code=200)
    make_rule(policy, "PATH", "STARTS_WITH", "/")
    with pytest.raises(UnsafeValue):
        render(lb)


# --- backends ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "balance"),
    [
        (constants.ROUND_ROBIN, "balance roundrobin"),
        (constants.LEAST_CONNECTIONS, "balance leastconn"),
        (constants.SOURCE_IP, "balance source"),
        (constants.SOURCE_IP_PORT, "balance hash src,concat(:,txn.ostia_src_port)"),
    ],
)
def test_lb_algorithm_maps_to_balance(algorithm, balance):
    lb = make_lb()
    listener = make_listener(lb, constants.TCP, 80)
    pool = make_pool(lb, constants.TCP, algorithm, listener=listener)
    lines = backend(render(lb), pool, listener)
    assert balance in lines
    has_var = "tcp-request content set-var(txn.ostia_src_port) src_port" in lines
    assert has_var == (algorithm == constants.SOURCE_IP_PORT)


@pytest.mark.parametrize(
    ("pool_protocol", "listener_protocol", "mode"),
    [
        (constants.HTTP, constants.HTTP, "http"),
        (constants.HTTP, constants.TCP, "http"),
        (constants.PROXY, constants.HTTP, "http"),
        (constants.PROXYV2, constants.TCP, "tcp"),
        (constants.TCP, constants.TCP, "tcp"),
        (constants.HTTPS, constants.HTTPS, "tcp"),
    ],
)
def test_backend_mode(pool_protocol, listener_protocol, mode):
    lb = make_lb()
    listener = make_listener(lb, listener_protocol, 80)
    pool = make_pool(lb, pool_protocol, listener=listener)
    assert f"mode {mode}" in backend(render(lb), pool, listener)


def test_backend_timeouts_come_from_listener():
    lb = make_lb()
    listener = make_listener(lb, timeout_member_connect=111, timeout_member_data=222)
    pool = make_pool(lb, listener=listener)
    lines = backend(render(lb), pool, listener)
    assert "timeout connect 111" in lines and "timeout server 222" in lines
    assert "option allbackups" in lines


def test_server_lines_carry_weight_backup_disabled_and_monitor_address():
    lb = make_lb()
    listener = make_listener(lb)
    pool = make_pool(lb, listener=listener)
    make_hm(pool, constants.TCP, delay=7, fall_threshold=4, rise_threshold=5)
    plain = make_member(pool, "10.0.0.1", 80, weight=3)
    spare = make_member(pool, "10.0.0.2", 80, backup=True, monitor_address="10.0.1.2", monitor_port=9000)
    down = make_member(pool, "fd00::3", 80, enabled=False)
    gone = make_member(pool, "10.0.0.4", 80, provisioning_status=constants.PENDING_DELETE)
    lines = backend(render(lb), pool, listener)
    assert server_line(lines, plain) == (
        f"server {plain.id} 10.0.0.1:80 weight 3 check inter 7s fall 4 rise 5"
    )
    assert server_line(lines, spare) == (
        f"server {spare.id} 10.0.0.2:80 weight 1 check inter 7s fall 4 rise 5 addr 10.0.1.2 port 9000 backup"
    )
    assert server_line(lines, down).endswith("fd00::3:80 weight 1 check inter 7s fall 4 rise 5 disabled")
    assert not any(gone.id in line for line in lines)


def test_admin_down_pool_disables_every_server():
    lb = make_lb()
    listener = make_listener(lb)
    pool = make_pool(lb, listener=listener, enabled=False)
    members = [make_member(pool, "10.0.0.1"), make_member(pool, "10.0.0.2")]
    lines = backend(render(lb), pool, listener)
    assert all(server_line(lines, m).endswith(" disabled") for m in members)


def test_empty_pool_backend_has_no_servers():
    lb = make_lb()
    listener = make_listener(lb)
    pool = make_pool(lb, listener=listener)
    lines = backend(render(lb), pool, listener)
    assert not any(line.startswith("server ") for line in lines)


@pytest.mark.parametrize(
    ("protocol", "word"), [(constants.PROXY, "send-proxy"), (constants.PROXYV2, "send-proxy-v2")]
)
def test_proxy_protocol_pools(protocol, word):
    lb = make_lb()
    listener = make_listener(lb, constants.TCP, 80)
    pool = make_pool(lb, protocol, listener=listener)
    member = make_member(pool)
    assert server_line(backend(render(lb), pool, listener), member).endswith(f" {word}")


def test_one_pool_behind_two_listeners_gets_two_backends():
    lb = make_lb()
    first = make_listener(lb, constants.HTTP, 80, timeout_member_data=1)
    second = make_listener(lb, constants.HTTP, 81, timeout_member_data=2)
    pool = make_pool(lb, listener=first)
    second.default_pool = pool
    text = render(lb)
    assert "timeout server 1" in backend(text, pool, first)
    assert "timeout server 2" in backend(text, pool, second)


# --- persistence ---------------------------------------------------------------------------


def test_source_ip_persistence():
    lb = make_lb()
    listener = make_listener(lb, constants.TCP, 80)
    pool = make_pool(lb, constants.TCP, listener=listener, persistence=constants.SOURCE_IP)
    lines = backend(render(lb, conf(haproxy_stick_size="20k")), pool, listener)
    assert "stick-table type ipv6 size 20k" in lines
    assert "stick on src" in lines


def test_http_cookie_persistence():
    lb = make_lb()
    listener = make_listener(lb)
    pool = make_pool(lb, listener=listener, persistence=constants.HTTP_COOKIE)
    member = make_member(pool)
    lines = backend(render(lb), pool, listener)
    assert "cookie SRV insert indirect nocache" in lines
    assert server_line(lines, member).endswith(f" cookie {member.id}")


def test_app_cookie_persistence():
    lb = make_lb()
    listener = make_listener(lb)
    pool = make_pool(lb, listener=listener, persistence=constants.APP_COOKIE, cookie_name="JSESSIONID")
    lines = backend(render(lb), pool, listener)
    assert "stick-table type string len 64 size 10k" in lines
    assert "stick store-response 'res.cook(\"JSESSIONID\")'" in lines
    assert "stick match 'req.cook(\"JSESSIONID\")'" in lines


def test_cookie_persistence_is_not_applied_in_tcp_mode():
    lb = make_lb()
    listener = make_listener(lb, constants.TCP, 80)
    pool = make_pool(lb, constants.TCP, listener=listener, persistence=constants.HTTP_COOKIE)
    lines = backend(render(lb), pool, listener)
    assert not any(line.startswith("cookie") for line in lines)


AMP = "a0000000-0000-0000-0000-000000000001"
OTHER = "a0000000-0000-0000-0000-000000000002"


def test_persistence_tables_are_shared_with_peers():
    lb = make_lb()
    listener = make_listener(lb, constants.TCP, 80)
    pool = make_pool(lb, constants.TCP, listener=listener, persistence=constants.SOURCE_IP)
    text = render(lb, amphora_id=AMP, peers=[(AMP, "198.18.0.11"), (OTHER, "198.18.0.12")])
    peers = lb.id.replace("-", "") + "_peers"
    assert f"stick-table type ipv6 size 10k peers {peers}" in backend(text, pool, listener)
    # Peer names are the amphora ids without dashes: the agent passes its own as -L.
    assert section(text, f"peers {peers}") == [
        "peer a0000000000000000000000000000001 198.18.0.11:1025",
        "peer a0000000000000000000000000000002 198.18.0.12:1025",
    ]
    # -L names the local peer; a `localpeer` line too would only draw a warning.
    assert not any(line.startswith("localpeer") for line in directives(text))


def test_app_cookie_table_is_shared_with_peers():
    lb = make_lb()
    listener = make_listener(lb)
    pool = make_pool(lb, listener=listener, persistence=constants.APP_COOKIE, cookie_name="SID")
    text = render(lb, amphora_id=OTHER, peers=[(AMP, "198.18.0.11"), (OTHER, "198.18.0.12")])
    peers = lb.id.replace("-", "") + "_peers"
    assert f"stick-table type string len 64 size 10k peers {peers}" in backend(text, pool, listener)


def test_both_amphorae_of_a_pair_render_the_same_sections():
    lb = make_lb()
    make_pool(lb, listener=make_listener(lb), persistence=constants.SOURCE_IP)
    peers = [(AMP, "198.18.0.11"), (OTHER, "198.18.0.12")]
    assert directives(render(lb, amphora_id=AMP, peers=peers)) == directives(
        render(lb, amphora_id=OTHER, peers=peers)
    )


def test_single_topology_has_no_peers():
    lb = make_lb()
    listener = make_listener(lb)
    pool = make_pool(lb, listener=listener, persistence=constants.SOURCE_IP)
    text = render(lb)
    assert "stick-table type ipv6 size 10k" in backend(text, pool, listener)
    assert not any(line.startswith(("peers", "peer ", "localpeer")) for line in directives(text))
    assert " peers " not in text


def test_ipv6_peer_addresses_are_written_canonical():
    lb = make_lb()
    make_listener(lb)
    text = render(lb, amphora_id=AMP, peers=[(AMP, "2001:DB8:0::11"), (OTHER, "2001:db8::12")])
    peers = lb.id.replace("-", "") + "_peers"
    assert section(text, f"peers {peers}") == [
        "peer a0000000000000000000000000000001 2001:db8::11:1025",
        "peer a0000000000000000000000000000002 2001:db8::12:1025",
    ]


@pytest.mark.parametrize(
    "peers",
    [
        [(AMP, "198.18.0.11 bind :80"), (OTHER, "198.18.0.12")],
        [(AMP, "198.18.0.11\nfrontend x"), (OTHER, "198.18.0.12")],
        [(AMP, "fe80::1%eth0"), (OTHER, "198.18.0.12")],
        [(AMP + " x", "198.18.0.11"), (OTHER, "198.18.0.12")],
        [(AMP, "198.18.0.11"), (OTHER, "198.18.0.11")],
        [(AMP, "198.18.0.11"), (AMP, "198.18.0.12")],
    ],
)
def test_unsafe_or_repeated_peers_are_refused(peers):
    lb = make_lb()
    make_listener(lb)
    with pytest.raises(HaproxyRenderError):
        render(lb, amphora_id=AMP, peers=peers)


def test_amphora_must_be_among_its_peers():
    lb = make_lb()
    make_listener(lb)
    with pytest.raises(HaproxyRenderError):
        render(lb, peers=[("a0000000-0000-0000-0000-000000000009", "198.18.0.12")])


# --- health monitors -----------------------------------------------------------------------


def test_http_monitor():
    lb = make_lb()
    listener = make_listener(lb)
    pool = make_pool(lb, listener=listener)
    make_hm(
        pool,
        constants.HTTP,
        http_method="HEAD",
        url_path="/health?full=1",
        expected_codes="200, 202",
        timeout=4,
    )
    member = make_member(pool)
    lines = backend(render(lb), pool, listener)
    assert "option httpchk HEAD '/health?full=1'" in lines
    assert "http-check expect rstatus '^(200|202)$'" in lines
    assert "timeout check 4s" in lines
    assert server_line(lines, member).endswith("check inter 5s fall 3 rise 2")


def test_http_11_monitor_sends_host_header():
    lb = make_lb()
    listener = make_listener(lb)
    pool = make_pool(lb, listener=listener)
    make_hm(pool, constants.HTTP, http_version=1.1, domain_name="app.example.com")
    lines = backend(render(lb), pool, listener)
    assert "option httpchk GET / HTTP/1.1" in lines
    assert "http-check send hdr Host app.example.com" in lines


@pytest.mark.parametrize(
    ("codes", "regex"),
    [("200", "^(200)$"), ("200,201, 204", "^(200|201|204)$"), ("200-203", "^(200|201|202|203)$")],
)
def test_expected_codes(codes, regex):
    lb = make_lb()
    listener = make_listener(lb)
    pool = make_pool(lb, listener=listener)
    make_hm(pool, constants.HTTP, expected_codes=codes)
    assert f"http-check expect rstatus '{regex}'" in backend(render(lb), pool, listener)


@pytest.mark.parametrize("codes", ["200|.*", "2xx", "204-200", "200 #"])
def test_bad_expected_codes_are_unsafe(codes):
    lb = make_lb()
    listener = make_listener(lb)
    pool = make_pool(lb, listener=listener)
    make_hm(pool, constants.HTTP, expected_codes=codes)
    with pytest.raises(UnsafeValue):
        render(lb)


def test_url_path_is_percent_encoded_for_the_request_line():
    lb = make_lb()
    listener = make_listener(lb)
    pool = make_pool(lb, listener=listener)
    make_hm(pool, constants.HTTP, url_path='/a b"c#d')
    assert "option httpchk GET /a%20b%22c%23d" in backend(render(lb), pool, listener)


def test_https_monitor_checks_over_tls_without_verification():
    lb = make_lb()
    listener = make_listener(lb, constants.HTTPS, 443)
    pool = make_pool(lb, constants.HTTPS, listener=listener)
    make_hm(pool, constants.HTTPS)
    member = make_member(pool)
    line = server_line(backend(render(lb), pool, listener), member)
    assert line.endswith("check inter 5s fall 3 rise 2 check-ssl verify none")


def test_tls_hello_monitor():
    lb = make_lb()
    listener = make_listener(lb, constants.HTTPS, 443)
    pool = make_pool(lb, constants.HTTPS, listener=listener)
    make_hm(pool, constants.HM_TLS_HELLO)
    assert "option ssl-hello-chk" in backend(render(lb), pool, listener)


def test_ping_monitor_runs_the_wrapper():
    lb = make_lb()
    listener = make_listener(lb, constants.TCP, 80)
    pool = make_pool(lb, constants.TCP, listener=listener)
    make_hm(pool, constants.HM_PING)
    lines = backend(render(lb, base_path="/srv"), pool, listener)
    assert "option external-check" in lines
    # The script the agent installs, where the agent installs it.
    assert "external-check command /srv/ping-wrapper.sh" in lines
    assert AgentPaths("/srv", "/certs").ping_wrapper() == "/srv/ping-wrapper.sh"
    assert ping_wrapper_script().startswith("#!/bin/sh")


def test_tcp_monitor_is_a_plain_check():
    lb = make_lb()
    listener = make_listener(lb, constants.TCP, 80)
    pool = make_pool(lb, constants.TCP, listener=listener)
    make_hm(pool, constants.TCP, delay=0)
    member = make_member(pool)
    lines = backend(render(lb), pool, listener)
    assert not any(line.startswith("option httpchk") for line in lines)
    # haproxy refuses `inter 0`.
    assert server_line(lines, member).endswith("check inter 1s fall 3 rise 2")


def test_disabled_monitor_renders_no_checks():
    lb = make_lb()
    listener = make_listener(lb)
    pool = make_pool(lb, listener=listener)
    make_hm(pool, constants.HTTP, enabled=False)
    member = make_member(pool)
    lines = backend(render(lb), pool, listener)
    assert " check" not in server_line(lines, member)
    assert not any("httpchk" in line for line in lines)


# --- TLS to members ------------------------------------------------------------------------


def test_pool_tls_to_members():
    lb = make_lb()
    listener = make_listener(lb, constants.TERMINATED_HTTPS, 443, tls_certificate_id="c")
    pool = make_pool(
        lb,
        listener=listener,
        tls_enabled=True,
        tls_certificate_id="pc",
        ca_tls_certificate_id="pca",
        crl_container_id="pcrl",
        tls_versions=["TLSv1.3"],
        alpn_protocols=["http/1.1"],
        tls_ciphers="TLS_AES_256_GCM_SHA384",
    )
    make_hm(pool, constants.HTTPS)
    member = make_member(pool)
    line = server_line(backend(render(lb, cert_dir="/c"), pool, listener), member)
    d = f"/c/{lb.id}"
    from ostia.controller.worker.haproxy.tls import cert_file_name

    assert line.endswith(
        f"check inter 5s fall 3 rise 2 check-alpn http/1.1 ssl crt {d}/{cert_file_name('pc')} "
        f"ca-file {d}/{pool.id}-ca.pem verify required crl-file {d}/{pool.id}-crl.pem "
        "sni ssl_fc_sni ciphersuites TLS_AES_256_GCM_SHA384 no-sslv3 no-tlsv10 no-tlsv11 "
        "no-tlsv12 alpn http/1.1"
    )


def test_pool_tls_without_ca_does_not_verify():
    lb = make_lb()
    listener = make_listener(lb, constants.HTTP, 80)
    pool = make_pool(lb, listener=listener, tls_enabled=True)
    member = make_member(pool)
    line = server_line(backend(render(lb), pool, listener), member)
    assert " ssl verify none ciphers " in line
    assert " sni " not in line


# --- unsafe values -------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\x00b", "a\tb", "a\u2028b", "a\x85b"])
def test_control_characters_raise_unsafe_value(bad):
    lb = make_lb()
    listener = make_listener(lb)
    policy = make_policy(listener, "REJECT", 1)
    make_rule(policy, "PATH", "EQUAL_TO", bad)
    with pytest.raises(UnsafeValue) as info:
        render(lb)
    assert info.value.field == "l7rule.value"


def test_member_address_must_be_an_ip():
    lb = make_lb()
    listener = make_listener(lb)
    pool = make_pool(lb, listener=listener)
    make_member(pool, "127.0.0.1:80 backup")
    with pytest.raises(UnsafeValue):
        render(lb)


def test_ids_must_be_identifiers():
    lb = make_lb()
    make_listener(lb, id="x y")
    with pytest.raises(UnsafeValue):
        render(lb)


def test_too_long_base_path_is_refused_before_haproxy_would():
    lb = make_lb()
    make_listener(lb)
    with pytest.raises(HaproxyRenderError, match="socket path"):
        render(lb, base_path="/" + "x" * 60)


def test_pending_delete_load_balancer_serves_no_listener():
    lb = make_lb()
    make_listener(lb)
    lb.provisioning_status = constants.PENDING_DELETE
    assert haproxy_listeners(lb) == []


def test_custom_template_from_config(tmp_path):
    template = tmp_path / "custom.j2"
    template.write_text("# {{ g.lb_id }}{% for fe in frontends %} {{ fe.name }}{% endfor %}.\n")
    lb = make_lb()
    listener = make_listener(lb)
    assert render(lb, conf(haproxy_template=str(template))) == f"# {lb.id} {listener.id}.\n"
