"""The agent's HTTPS: client certificates required, server certificate names the amphora,
rotation without a restart."""

from __future__ import annotations

import os
import socket
import ssl
import stat

import pytest
from cryptography import x509

from ostia.common import exceptions
from ostia.drivers.amphora.base import AmphoraRef
from ostia.drivers.amphora.rest_driver import HaproxyRestAmphoraDriver
from tests.integration.agent_fixtures import (  # noqa: F401 (fixtures)
    CertificateAuthority,
    HttpLoadBalancer,
    LocalAgent,
    agent,
    agent_ca,
    backends,
    certificate_authority,
    get,
    heartbeat_listener,
)


def tls_get(agent: LocalAgent, context: ssl.SSLContext) -> tuple[bytes, bytes]:  # noqa: F811
    """GET / over a fresh TLS connection: (server certificate DER, response bytes)."""
    with socket.create_connection((agent.host, agent.port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=agent.amphora_id) as conn:
            peer = conn.getpeercert(binary_form=True) or b""
            conn.sendall(b"GET / HTTP/1.1\r\nHost: amphora\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
    return peer, data


def client_context(ca: CertificateAuthority, client_cert: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca.files.server_ca_cert)
    if client_cert:
        context.load_cert_chain(client_cert)
    return context


def test_controller_client_certificate_is_accepted(agent, agent_ca):  # noqa: F811
    _, response = tls_get(agent, client_context(agent_ca, agent_ca.files.client_cert_and_key))
    assert response.startswith(b"HTTP/1.1 200") and b'{"api_version":"1.0"}' in response


def handshake_error(agent: LocalAgent, context: ssl.SSLContext) -> ssl.SSLError:  # noqa: F811
    """With TLS 1.2 the server checks the client certificate inside the handshake, so a
    refusal is a handshake error on the client (asyncio closes without an alert: EOF)."""
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        _, response = tls_get(agent, context)
    except ssl.SSLError as exc:
        return exc
    raise AssertionError(f"the agent answered: {response[:200]!r}")


def no_answer_over_tls13(agent: LocalAgent, context: ssl.SSLContext) -> None:  # noqa: F811
    """With TLS 1.3 the client's handshake ends before the server has checked the client
    certificate; the server then aborts without any HTTP answer."""
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    try:
        _, response = tls_get(agent, context)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return
    assert response == b""


def test_client_without_certificate_is_refused_at_the_tls_layer(agent, agent_ca):  # noqa: F811
    handshake_error(agent, client_context(agent_ca, None))
    no_answer_over_tls13(agent, client_context(agent_ca, None))


def test_client_certificate_of_another_ca_is_refused(agent, agent_ca):  # noqa: F811
    with certificate_authority() as other:
        handshake_error(agent, client_context(agent_ca, other.files.client_cert_and_key))
        no_answer_over_tls13(agent, client_context(agent_ca, other.files.client_cert_and_key))


def test_driver_refuses_a_server_certificate_for_another_amphora(agent, agent_ca):  # noqa: F811
    driver = HaproxyRestAmphoraDriver(agent_ca.controller_conf())
    impostor = AmphoraRef("6f1c0d0e-0000-4000-8000-000000000000", agent.host, agent.port)
    try:
        with pytest.raises(exceptions.AgentCertificateRefused):
            driver.get_info(impostor)
    finally:
        driver.close()


def test_driver_refuses_a_server_signed_by_another_ca(agent):  # noqa: F811
    with certificate_authority() as other:
        driver = HaproxyRestAmphoraDriver(other.controller_conf())
        try:
            with pytest.raises(exceptions.AgentCertificateRefused):
                driver.get_info(agent.amp)
        finally:
            driver.close()


def test_rotated_certificate_is_used_for_new_connections_and_haproxy_keeps_serving(agent, agent_ca):  # noqa: F811
    context = client_context(agent_ca, agent_ca.files.client_cert_and_key)
    old_cert, _ = tls_get(agent, context)
    lb = HttpLoadBalancer.new()
    with backends("one") as (one,):
        agent.driver.upload_haproxy_config(
            agent.amp, lb.lb_id, lb.config(agent.base_path, {one.member_id: one.port})
        )
        agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)
        master = agent.haproxy_processes(lb.lb_id)
        new_pem = agent_ca.server_pem(agent.amphora_id)

        agent.driver.upload_server_certificate(agent.amp, new_pem)

        new_cert, response = tls_get(agent, context)
        assert get(lb.url) == (200, "one")
        assert agent.haproxy_processes(lb.lb_id) == master
        agent.driver.delete_listeners(agent.amp, lb.lb_id)
    assert response.startswith(b"HTTP/1.1 200")
    expected = x509.load_pem_x509_certificate(new_pem)
    assert x509.load_der_x509_certificate(new_cert).serial_number == expected.serial_number
    assert x509.load_der_x509_certificate(old_cert).serial_number != expected.serial_number
    with open(agent.server_pem_path, "rb") as handle:
        assert handle.read() == new_pem
    assert stat.S_IMODE(os.stat(agent.server_pem_path).st_mode) == 0o600


def test_invalid_server_certificate_is_refused_and_the_old_one_stays(agent, agent_ca):  # noqa: F811
    context = client_context(agent_ca, agent_ca.files.client_cert_and_key)
    before, _ = tls_get(agent, context)

    with pytest.raises(exceptions.AgentInvalidRequest):
        agent.driver.upload_server_certificate(agent.amp, b"not a certificate")

    after, _ = tls_get(agent, context)
    assert after == before
