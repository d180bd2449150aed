"""TLS references on listeners and pools resolve through the configured cert manager."""

from __future__ import annotations

import datetime

import pytest

from ostia.drivers.certs import x509
from ostia.drivers.certs.local_manager import LocalCertManager
from tests.support.live_api import test_config
from tests.support.objects import check, create_lb, create_pool, fault


def _self_signed(name: str) -> tuple[bytes, bytes]:
    key = x509.new_private_key()
    subject = x509.name(name)
    cert = x509.build_certificate(
        subject=subject,
        public_key=key.public_key(),
        issuer=subject,
        issuer_key=key,
        validity=datetime.timedelta(days=30),
        server=True,
        alt_names=[name],
    )
    return x509.cert_to_pem(cert), x509.key_to_pem(key)


@pytest.fixture
def local_certs(api, tmp_path):
    """Switch the running API to the local cert manager with its own storage."""
    conf = test_config(
        str(api.db.engine.url),
        {"certificates": {"cert_manager": "local_cert_manager", "storage_path": str(tmp_path / "tls")}},
    )
    api.reset(conf, api.db)
    return LocalCertManager(conf)


def _listener(client, lb_id, port=443, **refs):
    return client.post(
        "/v2/lbaas/listeners",
        json={
            "listener": {
                "loadbalancer_id": lb_id,
                "protocol": "TERMINATED_HTTPS",
                "protocol_port": port,
                **refs,
            }
        },
    )


def test_unknown_reference_is_400_and_stored_one_is_accepted(client, local_certs):
    lb = create_lb(client)
    missing = _listener(client, lb["id"], default_tls_container_ref="no-such-container")
    assert fault(missing, 400) == "Could not retrieve certificate: ['no-such-container']"
    ref = local_certs.store_cert("p", *_self_signed("www.example.com"))
    created = check(_listener(client, lb["id"], default_tls_container_ref=ref), 201)
    assert created["listener"]["default_tls_container_ref"] == ref


def test_client_ca_and_crl_are_secrets_without_keys(client, local_certs):
    lb = create_lb(client)
    server = local_certs.store_cert("p", *_self_signed("www.example.com"))
    ca_pem, _ = _self_signed("Client CA")
    ca = local_certs.store_secret("p", ca_pem)
    listener = _listener(
        client,
        lb["id"],
        default_tls_container_ref=server,
        client_ca_tls_container_ref=ca,
        client_authentication="MANDATORY",
    )
    assert check(listener, 201)["listener"]["client_ca_tls_container_ref"] == ca
    bogus = _listener(
        client,
        lb["id"],
        port=8443,
        default_tls_container_ref=server,
        client_ca_tls_container_ref="missing-ca",
    )
    assert "missing-ca" in fault(bogus, 400)


def test_pool_backend_tls_references_are_checked(client, local_certs):
    lb = create_lb(client)
    response = client.post(
        "/v2/lbaas/pools",
        json={
            "pool": {
                "loadbalancer_id": lb["id"],
                "protocol": "HTTP",
                "lb_algorithm": "ROUND_ROBIN",
                "tls_enabled": True,
                "ca_tls_container_ref": "absent",
            }
        },
    )
    assert "absent" in fault(response, 400)
    ca = local_certs.store_secret("p", _self_signed("Backend CA")[0])
    pool = create_pool(client, loadbalancer_id=lb["id"], tls_enabled=True, ca_tls_container_ref=ca)
    assert pool["ca_tls_container_ref"] == ca
