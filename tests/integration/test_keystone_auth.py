"""Authentication against a real Keystone: 401s, expiry, revocation, the failure rate in
the log, an unreachable Keystone, and no secret in a DEBUG log."""

from __future__ import annotations

import datetime
import logging
import re
import subprocess
import time

import httpx
import pytest

from ostia.api import auth
from tests.support import rbac
from tests.support.api_process import BIN, ApiProcess, write_api_certificates
from tests.support.keystone import Cloud
from tests.support.live_api import free_port, migrated_sqlite, running_api
from tests.support.objects import check, create_lb, fault

pytestmark = pytest.mark.slow

AUTH_REQUIRED = "The request you have made requires authentication."


def fresh_token(keystone: Cloud, role: str = rbac.MEMBER) -> str:
    user = keystone.user(role)
    return keystone.server.issue_token(user.name, user.password, user.project)


def test_a_call_without_token_is_401_with_the_keystone_challenge(keystone_api, keystone):
    response = httpx.get(f"{keystone_api.url}/v2/lbaas/loadbalancers")
    assert fault(response, 401) == AUTH_REQUIRED
    assert response.headers["WWW-Authenticate"] == f'Keystone uri="{keystone.server.v3}"'


@pytest.mark.parametrize("token", ["not-a-token", "gAAAAABpZmFrZQ", "x" * 300])
def test_an_invalid_token_is_401(keystone_api, token):
    response = httpx.get(f"{keystone_api.url}/v2/lbaas/loadbalancers", headers={"X-Auth-Token": token})
    assert fault(response, 401) == AUTH_REQUIRED
    assert response.headers["WWW-Authenticate"].startswith("Keystone uri=")


def test_an_oversized_body_is_413_before_authentication(keystone_api):
    body = {"loadbalancer": {"vip_subnet_id": "private-subnet", "name": "x" * 200_000}}
    response = httpx.post(f"{keystone_api.url}/v2/lbaas/loadbalancers", json=body)
    assert fault(response, 413) == "Request is too large."


def test_version_discovery_and_healthcheck_need_no_token(keystone_api):
    assert httpx.get(f"{keystone_api.url}/").status_code == 200
    assert httpx.get(f"{keystone_api.url}/healthcheck").text == "OK"
    assert httpx.get(f"{keystone_api.url}/v2").status_code == 401


def test_the_token_names_the_project_of_new_objects(keystone_api, keystone):
    with keystone_api.client(**{"X-Auth-Token": keystone.token(rbac.MEMBER)}) as member:
        lb = create_lb(member, name="mine")
        assert lb["project_id"] == keystone.user(rbac.MEMBER).project_id
        check(member.delete(f"/v2/lbaas/loadbalancers/{lb['id']}"), 204)


def test_an_expired_token_is_refused_even_while_cached(keystone_api, keystone):
    # The API caches tokens for 300 s, but never past the token's own expiry.
    token, expires = keystone.server.short_lived_token(keystone.user(rbac.READER), seconds=4)
    with keystone_api.client(**{"X-Auth-Token": token}) as reader:
        check(reader.get("/v2/lbaas/loadbalancers"), 200)
        wait = (expires - datetime.datetime.now(datetime.UTC)).total_seconds() + 0.5
        time.sleep(max(wait, 0))
        assert fault(reader.get("/v2/lbaas/loadbalancers"), 401) == AUTH_REQUIRED


def test_a_revoked_token_is_refused_once_its_cache_entry_ends(keystone, tmp_path):
    options = keystone.authtoken_options(token_cache_time=3)
    with running_api(migrated_sqlite(f"{tmp_path}/o.db"), options) as api:
        token = fresh_token(keystone)
        with api.client(**{"X-Auth-Token": token}) as member:
            started = time.monotonic()
            check(member.get("/v2/lbaas/loadbalancers"), 200)
            keystone.server.revoke(token)
            time.sleep(max(0.0, 3.5 - (time.monotonic() - started)))
            assert fault(member.get("/v2/lbaas/loadbalancers"), 401) == AUTH_REQUIRED
            # Keystone itself says so too: the revocation is not only in our cache.
            assert fault(member.get("/v2/lbaas/pools"), 401) == AUTH_REQUIRED


def test_refused_authentications_are_counted_per_window(keystone, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(auth, "FAILED_AUTH_WINDOW", 1.0)
    caplog.set_level(logging.DEBUG)
    with running_api(migrated_sqlite(f"{tmp_path}/o.db"), keystone.authtoken_options()) as api:
        url = f"{api.url}/v2/lbaas/loadbalancers"
        httpx.get(url)
        httpx.get(url, headers={"X-Auth-Token": "secret-looking-bad-token-1"})
        httpx.get(url, headers={"X-Auth-Token": "secret-looking-bad-token-2"})
        deadline = time.monotonic() + 10
        while "refused in the last" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.1)
    summary = [r.getMessage() for r in caplog.records if "refused in the last" in r.getMessage()]
    assert summary == ["authentication: 3 refused in the last 1 s (invalid token: 2, no token: 1)"]
    assert "secret-looking-bad-token" not in caplog.text


def test_an_unreachable_keystone_answers_503(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/v3"
    options = {
        "api_settings": {"auth_strategy": "keystone"},
        "keystone_authtoken": {
            "auth_url": dead,
            "username": "octavia",
            "password": "pw",
            "http_request_max_retries": 0,
        },
    }
    with running_api(migrated_sqlite(f"{tmp_path}/o.db"), options) as api:
        response = httpx.get(f"{api.url}/v2/lbaas/loadbalancers", headers={"X-Auth-Token": "some-token"})
        assert response.status_code == 503
        assert response.json()["faultcode"] == "Server"


def test_a_debug_log_of_a_full_flow_holds_no_token_password_or_key(keystone, tmp_path):
    certs = write_api_certificates(tmp_path)
    service = keystone.service
    member = keystone.user(rbac.MEMBER)
    conf = (
        f"[DEFAULT]\ndebug = true\n"
        f"[api_settings]\nauth_strategy = keystone\n"
        f"[keystone_authtoken]\nauth_url = {keystone.server.v3}\n"
        f"www_authenticate_uri = {keystone.server.v3}\nusername = {service.name}\n"
        f"password = {service.password}\nproject_name = service\n"
    )
    secrets = [service.password, member.password, keystone.server.admin_password]
    with ApiProcess(tmp_path, conf, tls=certs) as api:
        token = fresh_token(keystone)
        secrets.append(token)
        with api.client() as anonymous:
            fault(anonymous.get("/v2/lbaas/loadbalancers"), 401)
            fault(anonymous.get("/v2/lbaas/loadbalancers", headers={"X-Auth-Token": token[::-1]}), 401)
        with api.client(**{"X-Auth-Token": token}) as client:
            lb = create_lb(client, name="logged")
            check(client.get(f"/v2/lbaas/loadbalancers/{lb['id']}"), 200)
            check(client.delete(f"/v2/lbaas/loadbalancers/{lb['id']}"), 204)
        keystone.server.revoke(token)
    log = api.log.read_text()
    # The log is really at DEBUG and covers the Keystone exchange.
    assert " DEBUG " in log and "auth/tokens" in log, log[-2000:]
    for secret in secrets:
        assert secret not in log
        assert secret[::-1] not in log
    key_body = "".join(certs.key.read_text().splitlines()[1:-1])
    for chunk in re.findall(".{16}", key_body):
        assert chunk not in log.replace("\n", "")


def test_keystone_strategy_without_keystone_settings_stops_octavia_api_in_one_line(tmp_path):
    # auth_strategy defaults to keystone, as upstream.
    conf = tmp_path / "octavia.conf"
    conf.write_text(f"[database]\nconnection = {migrated_sqlite(f'{tmp_path}/o.db')}\n")
    result = subprocess.run(
        [str(BIN / "octavia-api"), "--config-file", str(conf)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "[keystone_authtoken] auth_url" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0
