"""The v2 route table: which route a method and path reach, in Starlette's precedence."""

from __future__ import annotations

from ostia.api.app import resource_routes
from ostia.api.route_table import Match, RouteTable, WrongMethod


def _table() -> RouteTable[str]:
    table: RouteTable[str] = RouteTable()
    table.add("GET", "/v2/lbaas/quotas/defaults", "defaults")
    table.add("GET", "/v2/lbaas/quotas/{project_id}", "show quota")
    table.add("PUT", "/v2/lbaas/quotas/{project_id}", "update quota")
    table.add("GET", "/v2/lbaas/pools/{pool_id}/members/{member_id}", "show member")
    table.add("GET", "/v2/lbaas/pools/{pool_id}", "show pool")
    return table


def test_a_path_reaches_its_route_with_its_parameters_in_order():
    found = _table().match("GET", "/v2/lbaas/pools/p1/members/m1")
    assert isinstance(found, Match)
    assert found.entry.target == "show member"
    assert found.values == ("p1", "m1")
    assert found.params == {"pool_id": "p1", "member_id": "m1"}
    assert found.entry.template == "/v2/lbaas/pools/{pool_id}/members/{member_id}"


def test_a_literal_added_first_wins_over_a_parameter_for_its_method_only():
    table = _table()
    assert table.match("GET", "/v2/lbaas/quotas/defaults").entry.target == "defaults"  # type: ignore[union-attr]
    # The literal has no PUT: the templated route takes it, as Starlette's router did.
    update = table.match("PUT", "/v2/lbaas/quotas/defaults")
    assert isinstance(update, Match) and update.values == ("defaults",)


def test_a_known_path_with_another_method_is_wrong_method_with_what_is_allowed():
    assert _table().match("DELETE", "/v2/lbaas/quotas/p") == WrongMethod(("GET", "PUT"))
    assert _table().match("HEAD", "/v2/lbaas/pools/p") == WrongMethod(("GET",))


def test_unknown_paths_and_empty_segments_match_nothing():
    table = _table()
    for path in ("/v2/lbaas/pools", "/v2/lbaas/pools/", "/v2/lbaas/pools//members/m", "/v2/lbaas/x", "/"):
        assert table.match("GET", path) is None, path


def test_the_app_serves_every_resource_under_both_prefixes():
    table = resource_routes()
    for prefix in ("/v2/lbaas", "/v2.0/lbaas"):
        found = table.match("GET", f"{prefix}/loadbalancers/abc")
        assert isinstance(found, Match) and found.values == ("abc",)
        stats = table.match("GET", f"{prefix}/loadbalancers/abc/stats")
        assert isinstance(stats, Match) and stats.entry.template.endswith("/stats")
    assert isinstance(table.match("GET", "/v2/octavia/amphorae"), Match)
    assert table.match("GET", "/v2/lbaas/amphorae") is None
