"""L7 policies over HTTP: CRUD, actions and their fields, positions, statuses."""

from __future__ import annotations

import uuid

import pytest

from ostia.db import models
from tests.support.objects import (
    check,
    create_held_lb,
    create_l7policy,
    create_l7rule,
    create_lb,
    create_listener,
    fault,
    insert_pool,
    settle,
    show,
    statuses,
)

URL = "/v2/lbaas/l7policies"


@pytest.fixture
def listener(client):
    lb = create_lb(client)
    return create_listener(client, lb["id"], "HTTP", 80)


def _positions(client, listener_id):
    policies = check(client.get(f"{URL}?listener_id={listener_id}&sort=position"), 200)["l7policies"]
    return [(p["name"], p["position"]) for p in policies]


def _post(client, listener_id, **fields):
    return client.post(URL, json={"l7policy": {"listener_id": listener_id, **fields}})


def _put(client, policy_id, **fields):
    return client.put(f"{URL}/{policy_id}", json={"l7policy": fields})


# ---- CRUD ----------------------------------------------------------------------------


def test_create_answers_201_pending_create_with_every_field(client, listener):
    policy = create_l7policy(client, listener["id"], "REJECT", name="p1", description="d", tags=["x"])
    assert policy["provisioning_status"] == "PENDING_CREATE"
    assert policy["operating_status"] == "OFFLINE"
    assert policy["listener_id"] == listener["id"]
    assert policy["position"] == 1
    assert policy["rules"] == []
    assert policy["tags"] == ["x"]
    assert policy["project_id"] == policy["tenant_id"] == listener["project_id"]
    for key in (
        "redirect_pool_id",
        "redirect_url",
        "redirect_prefix",
        "redirect_http_code",
        "admin_state_up",
        "created_at",
        "updated_at",
        "name",
        "description",
    ):
        assert key in policy
    assert show(client, f"{URL}/{policy['id']}", "l7policy")["provisioning_status"] == "ACTIVE"


def test_every_change_puts_load_balancer_and_listener_pending_update(api, client):
    lb = create_held_lb(api, client)
    listener = create_listener(client, lb["id"], "HTTP", 80)
    settle(api, lb["id"])
    parents = (f"loadbalancers/{lb['id']}", f"listeners/{listener['id']}")
    policy = create_l7policy(client, listener["id"])
    assert statuses(client, *parents, f"l7policies/{policy['id']}") == [
        "PENDING_UPDATE",
        "PENDING_UPDATE",
        "PENDING_CREATE",
    ]
    settle(api, lb["id"])
    check(_put(client, policy["id"], name="x"), 200)
    assert statuses(client, *parents, f"l7policies/{policy['id']}") == ["PENDING_UPDATE"] * 3
    settle(api, lb["id"])
    assert client.delete(f"{URL}/{policy['id']}").status_code == 204
    assert statuses(client, *parents, f"l7policies/{policy['id']}") == [
        "PENDING_UPDATE",
        "PENDING_UPDATE",
        "PENDING_DELETE",
    ]
    settle(api, lb["id"])
    assert statuses(client, *parents) == ["ACTIVE", "ACTIVE"]
    fault(client.get(f"{URL}/{policy['id']}"), 404)


def test_list_show_update_delete(client, listener):
    first = create_l7policy(client, listener["id"], name="a")
    create_l7policy(client, listener["id"], name="b")
    listed = check(client.get(URL), 200)
    assert [p["name"] for p in listed["l7policies"]] == ["a", "b"]
    assert listed["l7policies_links"] == []
    assert show(client, f"{URL}/{first['id']}?fields=name&fields=id", "l7policy") == {
        "name": "a",
        "id": first["id"],
    }
    updated = check(_put(client, first["id"], name="renamed", admin_state_up=False, tags=["t"]), 200)[
        "l7policy"
    ]
    assert updated["name"] == "renamed" and updated["admin_state_up"] is False
    assert updated["provisioning_status"] == "PENDING_UPDATE"
    assert updated["tags"] == ["t"]
    assert client.delete(f"{URL}/{first['id']}").status_code == 204
    fault(client.get(f"{URL}/{first['id']}"), 404)
    assert [p["name"] for p in check(client.get(URL), 200)["l7policies"]] == ["b"]


def test_unknown_listener_or_policy_is_404(client):
    missing = str(uuid.uuid4())
    assert f"Listener {missing} not found." in fault(_post(client, missing, action="REJECT"), 404)
    assert f"L7 Policy {missing} not found." in fault(client.get(f"{URL}/{missing}"), 404)
    fault(_put(client, missing, name="x"), 404)
    fault(client.delete(f"{URL}/{missing}"), 404)


def test_policy_on_a_prometheus_listener_is_400(client):
    lb = create_lb(client)
    prometheus = create_listener(client, lb["id"], "PROMETHEUS", 9100)
    text = fault(_post(client, prometheus["id"], action="REJECT"), 400)
    assert "Protocol PROMETHEUS listeners cannot have child objects." in text


def test_changes_while_the_load_balancer_is_pending_are_409(api, client, listener):
    policy = create_l7policy(client, listener["id"])
    lb_id = listener["loadbalancers"][0]["id"]
    with api.db.transaction() as session:
        session.get(models.LoadBalancer, lb_id).provisioning_status = "PENDING_UPDATE"
    assert "is immutable" in fault(_post(client, listener["id"], action="REJECT"), 409)
    fault(_put(client, policy["id"], name="x"), 409)
    fault(client.delete(f"{URL}/{policy['id']}"), 409)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"action": "DROP"}, "action"),
        ({"action": "REJECT", "position": 0}, "position"),
        ({"action": "REJECT", "position": 2147483648}, "position"),
        ({"action": "REJECT", "position": "1.0"}, "position"),
        (
            {"action": "REDIRECT_TO_URL", "redirect_url": "http://a", "redirect_http_code": 300},
            "redirect_http_code",
        ),
        ({"action": "REDIRECT_TO_URL", "redirect_url": "ftp://example.com"}, "redirect_url"),
        ({"action": "REDIRECT_TO_URL", "redirect_url": "/relative"}, "redirect_url"),
        ({"action": "REDIRECT_TO_URL", "redirect_url": "http://a b"}, "redirect_url"),
        ({"action": "REDIRECT_TO_URL", "redirect_url": 'http://a/"x'}, "redirect_url"),
        ({"action": "REDIRECT_TO_URL", "redirect_url": "http://a/\nx"}, "redirect_url"),
        ({"action": "REDIRECT_PREFIX", "redirect_prefix": "http://a:99999"}, "redirect_prefix"),
        ({"action": "REDIRECT_TO_POOL", "redirect_pool_id": "nope"}, "redirect_pool_id"),
        ({"action": "REJECT", "name": "a\rb"}, "name"),
        ({"action": "REJECT", "surprise": 1}, "surprise"),
        ({"action": "REJECT", "rules": [{"type": "PATH"}]}, "rules.0.compare_type"),
    ],
)
def test_invalid_fields_answer_400_naming_the_field(client, listener, body, field):
    text = fault(_post(client, listener["id"], **body), 400)
    assert f"field/attribute {field}" in text


# ---- actions ---------------------------------------------------------------------------


def test_reject_clears_every_redirect_field(client, listener):
    policy = create_l7policy(client, listener["id"], "REJECT")
    assert (
        policy["redirect_url"],
        policy["redirect_prefix"],
        policy["redirect_pool_id"],
        policy["redirect_http_code"],
    ) == (None, None, None, None)


def test_redirect_to_url_requires_url_and_defaults_to_302(client, listener):
    text = fault(_post(client, listener["id"], action="REDIRECT_TO_URL"), 400)
    assert text == "Invalid L7 Policy arguments: redirect_url must not be None"
    policy = create_l7policy(
        client, listener["id"], "REDIRECT_TO_URL", redirect_url="https://example.com/x?y=1"
    )
    assert policy["redirect_url"] == "https://example.com/x?y=1"
    assert policy["redirect_http_code"] == 302
    coded = create_l7policy(
        client, listener["id"], "REDIRECT_TO_URL", redirect_url="http://example.com", redirect_http_code=308
    )
    assert coded["redirect_http_code"] == 308


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirect_prefix_takes_every_redirect_code(client, listener, code):
    policy = create_l7policy(
        client,
        listener["id"],
        "REDIRECT_PREFIX",
        redirect_prefix="https://example.com",
        redirect_http_code=code,
    )
    assert (policy["redirect_prefix"], policy["redirect_http_code"]) == ("https://example.com", code)
    assert policy["redirect_url"] is None


def test_redirect_prefix_requires_prefix(client, listener):
    text = fault(_post(client, listener["id"], action="REDIRECT_PREFIX"), 400)
    assert "redirect_prefix must not be None" in text


def test_redirect_to_pool_requires_a_compatible_pool_on_the_same_lb(api, client, listener):
    lb_id = listener["loadbalancers"][0]["id"]
    text = fault(_post(client, listener["id"], action="REDIRECT_TO_POOL"), 400)
    assert "redirect_pool_id or redirect_pool must not be None" in text
    pool_id = insert_pool(api, lb_id, "HTTP")
    policy = create_l7policy(
        client, listener["id"], "REDIRECT_TO_POOL", redirect_pool_id=pool_id, redirect_http_code=301
    )
    assert policy["redirect_pool_id"] == pool_id
    assert policy["redirect_http_code"] is None
    tcp_pool = insert_pool(api, lb_id, "TCP")
    text = fault(
        _post(client, listener["id"], action="REDIRECT_TO_POOL", redirect_pool_id=tcp_pool),
        400,
    )
    assert "The pool protocol 'TCP' is invalid while the listener protocol is 'HTTP'." in text
    other_lb = create_lb(client)
    foreign = insert_pool(api, other_lb["id"], "HTTP")
    assert f"Pool {foreign} not found." in fault(
        _post(client, listener["id"], action="REDIRECT_TO_POOL", redirect_pool_id=foreign),
        404,
    )
    missing = str(uuid.uuid4())
    fault(
        _post(client, listener["id"], action="REDIRECT_TO_POOL", redirect_pool_id=missing),
        404,
    )


def test_pool_together_with_url_or_prefix_is_400(api, client, listener):
    pool_id = insert_pool(api, listener["loadbalancers"][0]["id"])
    for other in ({"redirect_url": "http://a"}, {"redirect_prefix": "http://a"}):
        text = fault(
            _post(client, listener["id"], action="REDIRECT_TO_POOL", redirect_pool_id=pool_id, **other), 400
        )
        assert "Cannot specify redirect_pool_id and redirect_url or redirect_prefix" in text


def test_redirect_field_of_another_action_is_400(client, listener):
    text = fault(_post(client, listener["id"], action="REJECT", redirect_url="http://a"), 400)
    assert "redirect_url cannot be used with action REJECT" in text


def test_put_switches_action_and_clears_the_old_target(api, client, listener):
    pool_id = insert_pool(api, listener["loadbalancers"][0]["id"])
    policy = create_l7policy(
        client, listener["id"], "REDIRECT_TO_URL", redirect_url="http://a.example", redirect_http_code=301
    )
    # A redirect attribute alone switches the action.
    to_pool = check(_put(client, policy["id"], redirect_pool_id=pool_id), 200)["l7policy"]
    assert (
        to_pool["action"],
        to_pool["redirect_pool_id"],
        to_pool["redirect_url"],
        to_pool["redirect_http_code"],
    ) == ("REDIRECT_TO_POOL", pool_id, None, None)
    to_prefix = check(_put(client, policy["id"], redirect_prefix="https://b.example"), 200)["l7policy"]
    assert (
        to_prefix["action"],
        to_prefix["redirect_prefix"],
        to_prefix["redirect_pool_id"],
        to_prefix["redirect_http_code"],
    ) == ("REDIRECT_PREFIX", "https://b.example", None, 302)
    kept_code = check(_put(client, policy["id"], redirect_http_code=307), 200)["l7policy"]
    assert kept_code["redirect_http_code"] == 307
    same = check(_put(client, policy["id"], redirect_prefix="https://c.example"), 200)["l7policy"]
    assert same["redirect_http_code"] == 307
    rejected = check(_put(client, policy["id"], action="REJECT"), 200)["l7policy"]
    assert (rejected["action"], rejected["redirect_prefix"], rejected["redirect_http_code"]) == (
        "REJECT",
        None,
        None,
    )
    text = fault(_put(client, policy["id"], action="REDIRECT_TO_URL"), 400)
    assert "redirect_url must not be None" in text
    to_url = check(
        _put(client, policy["id"], action="REDIRECT_TO_URL", redirect_url="http://d.example"), 200
    )["l7policy"]
    assert (to_url["redirect_url"], to_url["redirect_http_code"]) == ("http://d.example", 302)
    fault(_put(client, policy["id"], redirect_url=None), 400)
    assert fault(_put(client, policy["id"]), 400) == "Invalid L7 Policy arguments: Invalid update options"
    fault(_put(client, policy["id"], redirect_url="http://x", redirect_prefix="http://y"), 400)


def test_put_to_an_incompatible_pool_is_400_and_changes_nothing(api, client, listener):
    tcp_pool = insert_pool(api, listener["loadbalancers"][0]["id"], "TCP")
    policy = create_l7policy(client, listener["id"], "REJECT")
    fault(_put(client, policy["id"], redirect_pool_id=tcp_pool), 400)
    assert show(client, f"{URL}/{policy['id']}", "l7policy")["action"] == "REJECT"


# ---- positions -------------------------------------------------------------------------


def test_positions_append_by_default_and_insert_shifts_the_others(client, listener):
    for name in ("a", "b", "c"):
        create_l7policy(client, listener["id"], name=name)
    assert _positions(client, listener["id"]) == [("a", 1), ("b", 2), ("c", 3)]
    inserted = create_l7policy(client, listener["id"], name="first", position=1)
    assert inserted["position"] == 1
    assert _positions(client, listener["id"]) == [("first", 1), ("a", 2), ("b", 3), ("c", 4)]
    create_l7policy(client, listener["id"], name="middle", position=3)
    assert _positions(client, listener["id"]) == [("first", 1), ("a", 2), ("middle", 3), ("b", 4), ("c", 5)]


def test_position_beyond_the_count_appends(client, listener):
    create_l7policy(client, listener["id"], name="a")
    far = create_l7policy(client, listener["id"], name="far", position=1000)
    assert far["position"] == 2
    assert _positions(client, listener["id"]) == [("a", 1), ("far", 2)]


def test_update_position_moves_and_renumbers(client, listener):
    ids = {name: create_l7policy(client, listener["id"], name=name)["id"] for name in ("a", "b", "c", "d")}
    moved = check(_put(client, ids["d"], position=1), 200)["l7policy"]
    assert moved["position"] == 1
    assert _positions(client, listener["id"]) == [("d", 1), ("a", 2), ("b", 3), ("c", 4)]
    check(_put(client, ids["d"], position=3), 200)
    assert _positions(client, listener["id"]) == [("a", 1), ("b", 2), ("d", 3), ("c", 4)]
    check(_put(client, ids["a"], position=99), 200)
    assert _positions(client, listener["id"]) == [("b", 1), ("d", 2), ("c", 3), ("a", 4)]


def test_delete_closes_the_gap(client, listener):
    ids = {name: create_l7policy(client, listener["id"], name=name)["id"] for name in ("a", "b", "c")}
    assert client.delete(f"{URL}/{ids['a']}").status_code == 204
    assert _positions(client, listener["id"]) == [("b", 1), ("c", 2)]
    create_l7policy(client, listener["id"], name="new", position=2)
    assert _positions(client, listener["id"]) == [("b", 1), ("new", 2), ("c", 3)]


def test_positions_are_per_listener(client, listener):
    other = create_listener(client, listener["loadbalancers"][0]["id"], "HTTP", 81)
    create_l7policy(client, listener["id"], name="a")
    assert create_l7policy(client, other["id"], name="b")["position"] == 1


# ---- inline rules ----------------------------------------------------------------------


def test_inline_rules_are_created_with_the_policy(client, listener):
    policy = create_l7policy(
        client,
        listener["id"],
        "REJECT",
        rules=[
            {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"},
            {"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-Env", "value": "prod", "invert": True},
        ],
    )
    assert len(policy["rules"]) == 2
    rules = check(client.get(f"{URL}/{policy['id']}/rules"), 200)["rules"]
    assert {r["type"] for r in rules} == {"PATH", "HEADER"}
    assert all(r["provisioning_status"] == "ACTIVE" for r in rules)


def test_invalid_inline_rule_creates_nothing(client, listener):
    bad_rule = {"type": "HEADER", "compare_type": "EQUAL_TO", "value": "x"}
    text = fault(_post(client, listener["id"], action="REJECT", rules=[bad_rule]), 400)
    assert "requires a key" in text
    assert check(client.get(URL), 200)["l7policies"] == []


def test_more_than_fifty_inline_rules_is_409(client, listener):
    rules = [{"type": "PATH", "compare_type": "EQUAL_TO", "value": f"/p{i}"} for i in range(51)]
    text = fault(_post(client, listener["id"], action="REJECT", rules=rules), 409)
    assert text.startswith("Too many rules on L7 policy")


def test_deleting_a_policy_deletes_its_rules(api, client, listener):
    policy = create_l7policy(client, listener["id"])
    rule = create_l7rule(client, policy["id"])
    assert client.delete(f"{URL}/{policy['id']}").status_code == 204
    with api.db.transaction() as session:
        assert session.get(models.L7Rule, rule["id"]) is None
