"""The v2 route layer as a client meets it: prefixes, wrong methods, slashes, unknown paths."""

from __future__ import annotations

from tests.support.objects import check, create_lb, fault


def test_both_prefixes_and_the_json_suffix_reach_the_same_object(client):
    lb = create_lb(client)
    for path in (
        f"/v2/lbaas/loadbalancers/{lb['id']}",
        f"/v2.0/lbaas/loadbalancers/{lb['id']}",
        f"/v2/lbaas/loadbalancers/{lb['id']}.json",
    ):
        assert check(client.get(path), 200)["loadbalancer"]["id"] == lb["id"], path


def test_a_wrong_method_is_405_naming_the_methods_the_path_has(client):
    lb = create_lb(client)
    response = client.patch(f"/v2/lbaas/loadbalancers/{lb['id']}")
    assert "PATCH" in fault(response, 405)
    assert response.headers["allow"] == "DELETE, GET, PUT"
    assert client.delete("/v2/lbaas/loadbalancers").headers["allow"] == "GET, POST"


def test_a_trailing_slash_redirects_to_the_path_without_it(client):
    response = client.get("/v2/lbaas/loadbalancers/?limit=1", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"].endswith("/v2/lbaas/loadbalancers?limit=1")


def test_unknown_paths_are_404_in_the_fault_format(client):
    for path in ("/v2/lbaas/nothing", "/v2/lbaas/amphorae", "/v2/lbaas/loadbalancers//stats"):
        assert fault(client.get(path), 404) == f"The resource could not be found: {path}"


def test_a_literal_route_wins_over_a_templated_sibling_only_for_its_method(client):
    defaults = check(client.get("/v2/lbaas/quotas/defaults"), 200)["quota"]
    assert defaults["loadbalancer"] == -1
    # PUT has no literal route: the project is named "defaults", as Starlette's router did.
    assert check(client.put("/v2/lbaas/quotas/defaults", json={"quota": {"listener": 3}}), 202)
