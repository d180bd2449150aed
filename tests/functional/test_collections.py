"""The shared list layer, through load balancers and listeners: pages, sorting, filters."""

from __future__ import annotations

import urllib.parse

import pytest

from tests.support.objects import check, create_lb, create_listener, fault


@pytest.fixture
def seven_lbs(client):
    return [
        create_lb(
            client, name=f"lb-{i}", description="even" if i % 2 == 0 else "odd", tags=["all", f"t{i % 3}"]
        )
        for i in range(7)
    ]


def _page(client, url):
    parts = urllib.parse.urlsplit(url)
    return check(client.get(f"{parts.path}?{parts.query}"), 200)


def _link(page, rel):
    return next((link["href"] for link in page["loadbalancers_links"] if link["rel"] == rel), None)


def test_three_pages_forward_then_back(client, seven_lbs):
    first = check(client.get("/v2/lbaas/loadbalancers?limit=3&sort=name:asc"), 200)
    names = [[lb["name"] for lb in first["loadbalancers"]]]
    assert _link(first, "previous") is None
    page = first
    while _link(page, "next"):
        page = _page(client, _link(page, "next"))
        names.append([lb["name"] for lb in page["loadbalancers"]])
        if not page["loadbalancers"]:
            break
    flat = [n for chunk in names for n in chunk]
    assert flat == [f"lb-{i}" for i in range(7)]
    assert names[:3] == [["lb-0", "lb-1", "lb-2"], ["lb-3", "lb-4", "lb-5"], ["lb-6"]]
    # From the third page walk back with `previous` links.
    third = _page(client, _link(_page(client, _link(first, "next")), "next"))
    second_again = _page(client, _link(third, "previous"))
    assert [lb["name"] for lb in second_again["loadbalancers"]] == ["lb-3", "lb-4", "lb-5"]
    first_again = _page(client, _link(second_again, "previous"))
    assert [lb["name"] for lb in first_again["loadbalancers"]] == ["lb-0", "lb-1", "lb-2"]


def test_sorting_both_syntaxes_and_directions(client, seven_lbs):
    desc = check(client.get("/v2/lbaas/loadbalancers?sort=name:desc"), 200)["loadbalancers"]
    assert [lb["name"] for lb in desc] == [f"lb-{i}" for i in reversed(range(7))]
    legacy = check(
        client.get("/v2/lbaas/loadbalancers?sort_key=description&sort_key=name&sort_dir=asc&sort_dir=desc"),
        200,
    )["loadbalancers"]
    assert [lb["name"] for lb in legacy] == ["lb-6", "lb-4", "lb-2", "lb-0", "lb-5", "lb-3", "lb-1"]


@pytest.mark.parametrize(
    "query, message",
    [
        ("sort=bogus:asc", "Supplied sort key 'bogus' is not valid."),
        ("sort=name:sideways", "Supplied sort direction 'sideways' is not valid."),
        ("limit=abc", "Supplied pagination limit 'abc' is not valid."),
        ("marker=00000000-0000-0000-0000-000000000001", "pagination marker"),
        ("colour=blue", "unknown filter 'colour'"),
    ],
)
def test_bad_list_parameters_answer_400(client, seven_lbs, query, message):
    assert message in fault(client.get(f"/v2/lbaas/loadbalancers?{query}"), 400)


def test_filter_by_fields_and_booleans(client, seven_lbs):
    odd = check(client.get("/v2/lbaas/loadbalancers?description=odd"), 200)["loadbalancers"]
    assert sorted(lb["name"] for lb in odd) == ["lb-1", "lb-3", "lb-5"]
    one = check(client.get("/v2/lbaas/loadbalancers?name=lb-4"), 200)["loadbalancers"]
    assert [lb["name"] for lb in one] == ["lb-4"]
    vip = seven_lbs[2]["vip_address"]
    by_vip = check(client.get(f"/v2/lbaas/loadbalancers?vip_address={vip}"), 200)
    assert [lb["name"] for lb in by_vip["loadbalancers"]] == ["lb-2"]
    enabled = check(client.get("/v2/lbaas/loadbalancers?admin_state_up=true"), 200)
    assert len(enabled["loadbalancers"]) == 7
    assert check(client.get("/v2/lbaas/loadbalancers?admin_state_up=false"), 200)["loadbalancers"] == []


def test_tag_filters(client, seven_lbs):
    def names(query):
        body = check(client.get(f"/v2/lbaas/loadbalancers?{query}"), 200)
        return sorted(lb["name"] for lb in body["loadbalancers"])

    assert names("tags=t0") == ["lb-0", "lb-3", "lb-6"]
    assert names("tags=t0,all") == ["lb-0", "lb-3", "lb-6"]
    assert names("tags=t0&tags=t1") == []
    assert names("tags-any=t0,t1") == ["lb-0", "lb-1", "lb-3", "lb-4", "lb-6"]
    assert names("not-tags=t2") == ["lb-0", "lb-1", "lb-3", "lb-4", "lb-6"]
    assert names("not-tags-any=t0,t1") == ["lb-2", "lb-5"]


def test_field_selection_on_list_and_show(client, seven_lbs):
    body = check(client.get("/v2/lbaas/loadbalancers?fields=id&fields=name&limit=2"), 200)
    assert all(set(lb) == {"id", "name"} for lb in body["loadbalancers"])
    lb_id = seven_lbs[0]["id"]
    one = check(client.get(f"/v2/lbaas/loadbalancers/{lb_id}?fields=vip_address"), 200)
    assert one == {"loadbalancer": {"vip_address": seven_lbs[0]["vip_address"]}}


def test_listeners_list_through_the_same_layer(client):
    lb = create_lb(client)
    for port in (81, 82, 83):
        create_listener(client, lb["id"], port=port, tags=[f"p{port}"])
    body = check(client.get("/v2/lbaas/listeners?limit=2&sort=protocol_port:desc"), 200)
    assert [li["protocol_port"] for li in body["listeners"]] == [83, 82]
    assert any(link["rel"] == "next" for link in body["listeners_links"])
    tagged = check(client.get("/v2/lbaas/listeners?tags=p81"), 200)["listeners"]
    assert [li["protocol_port"] for li in tagged] == [81]
    filtered = check(client.get(f"/v2/lbaas/listeners?loadbalancer_id={lb['id']}&protocol_port=82"), 200)[
        "listeners"
    ]
    assert [li["protocol_port"] for li in filtered] == [82]


def test_other_projects_are_invisible_to_project_callers(client):
    mine = create_lb(client, project_id="p1")
    create_lb(client, project_id="p2")
    member_headers = {"X-Project-Id": "p1", "X-Roles": "member"}
    listed = check(client.get("/v2/lbaas/loadbalancers", headers=member_headers), 200)
    assert [lb["id"] for lb in listed["loadbalancers"]] == [mine["id"]]
    other = check(client.get("/v2/lbaas/loadbalancers?project_id=p2"), 200)["loadbalancers"]
    fault(client.get(f"/v2/lbaas/loadbalancers/{other[0]['id']}", headers=member_headers), 404)
