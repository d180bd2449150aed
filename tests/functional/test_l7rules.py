"""L7 rules over HTTP: CRUD, type/compare/key/value rules, injection attempts, limits."""

from __future__ import annotations

import uuid

import pytest

from tests.support.objects import (
    check,
    create_held_lb,
    create_l7policy,
    create_l7rule,
    create_lb,
    create_listener,
    fault,
    settle,
    show,
    statuses,
)


@pytest.fixture
def policy(client):
    lb = create_lb(client)
    listener = create_listener(client, lb["id"], "HTTP", 80)
    return create_l7policy(client, listener["id"], "REJECT")


def _url(policy_id, rule_id=None):
    base = f"/v2/lbaas/l7policies/{policy_id}/rules"
    return f"{base}/{rule_id}" if rule_id else base


def _post(client, policy_id, **body):
    return client.post(_url(policy_id), json={"rule": body})


def _rule(rule_type, compare_type, value, key=None):
    body = {"type": rule_type, "compare_type": compare_type, "value": value}
    if key is not None:
        body["key"] = key
    return body


# ---- CRUD ----------------------------------------------------------------------------


def test_create_list_show_update_delete(client, policy):
    rule = create_l7rule(client, policy["id"], "PATH", "STARTS_WITH", "/api", tags=["a"])
    assert rule["provisioning_status"] == "PENDING_CREATE"
    assert rule["operating_status"] == "OFFLINE"
    assert (rule["invert"], rule["admin_state_up"], rule["key"]) == (False, True, None)
    assert rule["project_id"] == rule["tenant_id"] == policy["project_id"]
    assert rule["tags"] == ["a"]
    listed = check(client.get(_url(policy["id"])), 200)
    assert [r["id"] for r in listed["rules"]] == [rule["id"]]
    assert listed["rules_links"] == []
    assert show(client, _url(policy["id"], rule["id"]), "rule")["provisioning_status"] == "ACTIVE"
    assert show(client, f"/v2/lbaas/l7policies/{policy['id']}", "l7policy")["rules"] == [{"id": rule["id"]}]
    updated = check(
        client.put(
            _url(policy["id"], rule["id"]),
            json={"rule": {"value": "/v2", "invert": True, "admin_state_up": False}},
        ),
        200,
    )["rule"]
    assert (updated["value"], updated["invert"], updated["admin_state_up"]) == ("/v2", True, False)
    assert updated["provisioning_status"] == "PENDING_UPDATE"
    assert client.delete(_url(policy["id"], rule["id"])).status_code == 204
    fault(client.get(_url(policy["id"], rule["id"])), 404)
    assert check(client.get(_url(policy["id"])), 200)["rules"] == []


def test_rule_of_another_policy_or_unknown_policy_is_404(client, policy):
    rule = create_l7rule(client, policy["id"])
    other = create_l7policy(client, policy["listener_id"], "REJECT")
    assert f"L7 Rule {rule['id']} not found." in fault(client.get(_url(other["id"], rule["id"])), 404)
    fault(client.delete(_url(other["id"], rule["id"])), 404)
    missing = str(uuid.uuid4())
    assert f"L7 Policy {missing} not found." in fault(client.get(_url(missing)), 404)
    fault(_post(client, missing, **_rule("PATH", "EQUAL_TO", "/")), 404)


def test_rule_changes_put_lb_listener_and_policy_pending_update(api, client):
    lb = create_held_lb(api, client)
    listener = create_listener(client, lb["id"], "HTTP", 80)
    settle(api, lb["id"])
    policy = create_l7policy(client, listener["id"])
    settle(api, lb["id"])
    rule = create_l7rule(client, policy["id"])
    paths = (
        f"loadbalancers/{lb['id']}",
        f"listeners/{listener['id']}",
        f"l7policies/{policy['id']}",
        f"l7policies/{policy['id']}/rules/{rule['id']}",
    )
    assert statuses(client, *paths) == [
        "PENDING_UPDATE",
        "PENDING_UPDATE",
        "PENDING_UPDATE",
        "PENDING_CREATE",
    ]
    # Anything further waits for the provider.
    assert "is immutable" in fault(_post(client, policy["id"], **_rule("PATH", "EQUAL_TO", "/")), 409)
    settle(api, lb["id"])
    assert statuses(client, *paths) == ["ACTIVE"] * 4


def test_policy_not_active_is_409(api, client):
    lb = create_held_lb(api, client)
    listener = create_listener(client, lb["id"], "HTTP", 80)
    settle(api, lb["id"])
    policy = create_l7policy(client, listener["id"])
    # Mark only the LB active again: the policy itself is still PENDING_CREATE.
    from ostia.db import models

    with api.db.transaction() as session:
        session.get(models.LoadBalancer, lb["id"]).provisioning_status = "ACTIVE"
    text = fault(_post(client, policy["id"], **_rule("PATH", "EQUAL_TO", "/")), 409)
    assert text == f"L7 Policy {policy['id']} is immutable and cannot be updated."


def test_fifty_rules_fit_the_fifty_first_is_409(client, policy):
    for i in range(50):
        create_l7rule(client, policy["id"], "PATH", "EQUAL_TO", f"/p{i}")
    text = fault(_post(client, policy["id"], **_rule("PATH", "EQUAL_TO", "/last")), 409)
    assert text == f"Too many rules on L7 policy {policy['id']}"


# ---- types, compare types, keys ------------------------------------------------------

VALID = [
    _rule("HOST_NAME", "EQUAL_TO", "www.example.com"),
    _rule("HOST_NAME", "ENDS_WITH", ".example.com"),
    _rule("HOST_NAME", "REGEX", r"^(www|api)\.example\.com$"),
    _rule("PATH", "STARTS_WITH", "/api"),
    _rule("PATH", "CONTAINS", "images"),
    _rule("PATH", "EQUAL_TO", '"/a path with spaces"'),
    _rule("FILE_TYPE", "EQUAL_TO", "jpg"),
    _rule("FILE_TYPE", "REGEX", "^(jpe?g|png)$"),
    _rule("HEADER", "EQUAL_TO", "prod", key="X-Env"),
    _rule("HEADER", "CONTAINS", "text/html;q=0.9", key="Accept"),
    _rule("HEADER", "REGEX", "^Mozilla.*", key="User-Agent"),
    _rule("HEADER", "EQUAL_TO", r'"quoted \" value"', key="X-Q"),
    _rule("COOKIE", "EQUAL_TO", "abc123", key="session"),
    _rule("COOKIE", "STARTS_WITH", "a:b/c", key="tok"),
    _rule("SSL_CONN_HAS_CERT", "EQUAL_TO", "True"),
    _rule("SSL_VERIFY_RESULT", "EQUAL_TO", "0"),
    _rule("SSL_DN_FIELD", "EQUAL_TO", "John Smith", key="CN"),
    _rule("SSL_DN_FIELD", "REGEX", "^Example.*", key="O"),
]


@pytest.mark.parametrize("body", VALID, ids=lambda b: f"{b['type']}-{b['compare_type']}")
def test_valid_rules_are_accepted(client, policy, body):
    rule = check(_post(client, policy["id"], **body), 201)["rule"]
    assert {k: rule[k] for k in body} == body


INVALID = [
    # compare types a type does not take
    (_rule("FILE_TYPE", "STARTS_WITH", "jpg"), "invalid comparison type"),
    (_rule("SSL_CONN_HAS_CERT", "REGEX", "true"), "only supports the EQUAL_TO"),
    (_rule("SSL_VERIFY_RESULT", "CONTAINS", "1"), "only supports the EQUAL_TO"),
    # keys
    (_rule("HEADER", "EQUAL_TO", "x"), "requires a key"),
    (_rule("COOKIE", "EQUAL_TO", "x"), "requires a key"),
    (_rule("HEADER", "EQUAL_TO", "x", key="Bad Key"), "Invalid characters in key"),
    (_rule("COOKIE", "EQUAL_TO", "x", key="a=b"), "Invalid characters in key"),
    (_rule("SSL_DN_FIELD", "EQUAL_TO", "x"), "needs to specify a key and a value"),
    (_rule("SSL_DN_FIELD", "EQUAL_TO", "x", key="1CN"), "distinguished name field"),
    (_rule("SSL_CONN_HAS_CERT", "EQUAL_TO", "true", key="x"), 'does not use the "key"'),
    (_rule("SSL_VERIFY_RESULT", "EQUAL_TO", "0", key="x"), 'does not use the "key"'),
    # values
    (_rule("PATH", "EQUAL_TO", ""), "requires a value"),
    (_rule("SSL_CONN_HAS_CERT", "EQUAL_TO", "yes"), "not a boolean True string"),
    (_rule("SSL_VERIFY_RESULT", "EQUAL_TO", "-1"), "needs a int value"),
    (_rule("SSL_VERIFY_RESULT", "EQUAL_TO", "\u00b2"), "needs a int value"),
    (_rule("PATH", "REGEX", "(unclosed"), "Unable to parse regular expression"),
    (_rule("HEADER", "REGEX", "*bad", key="X"), "Unable to parse regular expression"),
    (_rule("SSL_DN_FIELD", "REGEX", "[bad", key="CN"), "Unable to parse regular expression"),
    (_rule("PATH", "EQUAL_TO", "/a b"), "Invalid characters in comparison value"),
    (_rule("COOKIE", "EQUAL_TO", "a;b", key="c"), "Invalid characters in cookie value"),
    (_rule("COOKIE", "EQUAL_TO", "a b", key="c"), "Invalid characters in cookie value"),
]


@pytest.mark.parametrize("body, message", INVALID, ids=lambda v: v if isinstance(v, str) else v["type"])
def test_invalid_rules_are_400(client, policy, body, message):
    text = fault(_post(client, policy["id"], **body), 400)
    assert text.startswith("Error parsing L7Rule: ")
    assert message in text
    assert check(client.get(_url(policy["id"])), 200)["rules"] == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({"type": "URL", "compare_type": "EQUAL_TO", "value": "x"}, "type"),
        ({"type": "PATH", "compare_type": "LIKE", "value": "x"}, "compare_type"),
        ({"type": "PATH", "compare_type": "EQUAL_TO"}, "value"),
        ({"compare_type": "EQUAL_TO", "value": "x"}, "type"),
        ({"type": "PATH", "compare_type": "EQUAL_TO", "value": "x" * 256}, "value"),
        ({"type": "HEADER", "compare_type": "EQUAL_TO", "value": "x", "key": "k" * 256}, "key"),
        ({"type": "PATH", "compare_type": "EQUAL_TO", "value": "/", "invert": "yes"}, "invert"),
        ({"type": "PATH", "compare_type": "EQUAL_TO", "value": 5}, "value"),
        ({"type": "PATH", "compare_type": "EQUAL_TO", "value": "/", "l7policy_id": "x"}, "l7policy_id"),
    ],
)
def test_invalid_fields_answer_400_naming_the_field(client, policy, body, field):
    assert f"field/attribute {field}" in fault(_post(client, policy["id"], **body), 400)


# ---- nothing a tenant sends may reach the configuration as structure -----------------

INJECTIONS = [
    _rule("PATH", "EQUAL_TO", "/a\nuse_backend evil"),
    _rule("PATH", "STARTS_WITH", "/a\r\nacl x always_true"),
    _rule("PATH", "REGEX", "^/a\n"),
    _rule("PATH", "EQUAL_TO", "/a\u2028b"),
    _rule("PATH", "EQUAL_TO", "/a\u0085b"),
    _rule("PATH", "EQUAL_TO", "/a\x00b"),
    _rule("HOST_NAME", "EQUAL_TO", "a\tb"),
    _rule("HEADER", "EQUAL_TO", "x", key="X-A\nB"),
    _rule("HEADER", "EQUAL_TO", 'x" if TRUE "y', key="X-A"),
    _rule("HEADER", "EQUAL_TO", '"x" or "y"', key="X-A"),
    _rule("HEADER", "EQUAL_TO", '"unterminated', key="X-A"),
    _rule("HEADER", "EQUAL_TO", "x", key='X-"A"'),
    _rule("HEADER", "EQUAL_TO", "x", key="X-A)"),
    _rule("COOKIE", "EQUAL_TO", 'a"b', key="c"),
    _rule("COOKIE", "EQUAL_TO", "a\\b", key="c"),
    _rule("COOKIE", "EQUAL_TO", "x", key="c'd e"),
    _rule("SSL_DN_FIELD", "EQUAL_TO", "a\nb", key="CN"),
    _rule("SSL_DN_FIELD", "EQUAL_TO", "x", key="CN)"),
    _rule("SSL_VERIFY_RESULT", "EQUAL_TO", "0 || 1"),
    _rule("SSL_VERIFY_RESULT", "EQUAL_TO", "12345678901"),
]


@pytest.mark.parametrize("body", INJECTIONS, ids=lambda b: repr(b.get("key") or b["value"]))
def test_injection_attempts_are_refused(client, policy, body):
    fault(_post(client, policy["id"], **body), 400)
    assert check(client.get(_url(policy["id"])), 200)["rules"] == []


def test_injection_through_update_is_refused_and_changes_nothing(client, policy):
    rule = create_l7rule(client, policy["id"], "HEADER", "EQUAL_TO", "ok", key="X-A")
    for change in ({"value": "a\nb"}, {"key": "X\r"}, {"value": 'a" "b'}):
        fault(client.put(_url(policy["id"], rule["id"]), json={"rule": change}), 400)
    stored = show(client, _url(policy["id"], rule["id"]), "rule")
    assert (stored["key"], stored["value"]) == ("X-A", "ok")


# ---- PUT merges, then validates the whole rule ---------------------------------------


def test_update_is_validated_against_the_merged_rule(client, policy):
    rule = create_l7rule(client, policy["id"], "PATH", "EQUAL_TO", "/x")
    url = _url(policy["id"], rule["id"])
    assert "requires a key" in fault(client.put(url, json={"rule": {"type": "HEADER"}}), 400)
    header = check(client.put(url, json={"rule": {"type": "HEADER", "key": "X-A"}}), 200)["rule"]
    assert (header["type"], header["key"], header["value"]) == ("HEADER", "X-A", "/x")
    assert "only supports the EQUAL_TO" in fault(
        client.put(
            url,
            json={"rule": {"type": "SSL_VERIFY_RESULT", "key": None, "value": "0", "compare_type": "REGEX"}},
        ),
        400,
    )
    fault(client.put(url, json={"rule": {"type": None}}), 400)
    fault(client.put(url, json={"rule": {"value": None}}), 400)
    inverted = check(client.put(url, json={"rule": {"invert": True}}), 200)["rule"]
    assert inverted["invert"] is True
    reset = check(client.put(url, json={"rule": {"invert": None, "tags": ["t"]}}), 200)["rule"]
    assert (reset["invert"], reset["tags"]) == (False, ["t"])
