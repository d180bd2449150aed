"""octavia-api serves HTTPS with `[api_settings] tls_certfile/tls_keyfile`."""

from __future__ import annotations

import ssl

import httpx
import pytest

from tests.support.api_process import ApiProcess, write_api_certificates
from tests.support.objects import check


def test_octavia_api_serves_https_with_its_certificate(tmp_path):
    certs = write_api_certificates(tmp_path)
    with ApiProcess(tmp_path, "[api_settings]\nauth_strategy = noauth\n", tls=certs) as api:
        with api.client() as client:
            versions = check(client.get("/"), 200)["versions"]
            # Links name the scheme the client used.
            assert versions[-1]["links"][0]["href"].startswith("https://127.0.0.1:")
            created = check(
                client.post(
                    "/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": "private-subnet"}}
                ),
                201,
            )["loadbalancer"]
            assert check(client.get(f"/v2/lbaas/loadbalancers/{created['id']}"), 200)
        # A client that does not trust the generated CA refuses the server.
        with (
            pytest.raises(httpx.ConnectError) as refused,
            httpx.Client(base_url=api.url, verify=ssl.create_default_context()) as stranger,
        ):
            stranger.get("/")
        assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
        # Plain HTTP on the TLS port gets no API answer.
        with pytest.raises(httpx.HTTPError):
            httpx.get(api.url.replace("https://", "http://") + "/", timeout=5)
