"""Amphora certificate rotation by the housekeeper on a real amphora under traffic."""

from __future__ import annotations

import socket
import ssl

import pytest

from ostia.controller.housekeeping.service import HousekeepingService
from ostia.db import models
from tests.support.backends import free_port, http_backends
from tests.support.health_stack import RequestLoop, create_lb, serving_lb_body, wait_until
from tests.support.worker_stack import WorkerStack, worker_stack

VALIDITY = 3600


def served_certificate(stack: WorkerStack, address: str, pinned_pem: str | None = None) -> bytes:
    """The agent's server certificate (DER), verified against the CA or only `pinned_pem`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    if pinned_pem is None:
        context.load_verify_locations(stack.amphorae.certs.server_ca_cert)
    else:
        # Trust exactly this (non-CA) certificate: a client pinned to the old one.
        context.load_verify_locations(cadata=pinned_pem)
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.load_cert_chain(stack.amphorae.certs.client_cert_and_key)
    port = stack.conf.haproxy_amphora.bind_port
    with socket.create_connection((address, port), timeout=5) as raw, context.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def test_rotation_under_traffic_fails_no_request_and_retires_the_old_certificate() -> None:
    overrides = {"certificates": {"cert_validity_time": VALIDITY}}
    with (
        worker_stack(overrides=overrides) as stack,
        stack.api.client() as http,
        http_backends("a") as backends,
    ):
        vip = stack.allocate_vip()
        port = free_port(vip)
        create_lb(stack, http, serving_lb_body(vip, port, backends))
        (instance,) = stack.amphorae.compute.list_instances()
        address = instance.lb_network_ip
        old = served_certificate(stack, address)
        old_pem = ssl.DER_cert_to_PEM_cert(old)
        assert served_certificate(stack, address, pinned_pem=old_pem) == old
        with stack.db.transaction() as session:
            old_expiration = session.get(models.Amphora, instance.amphora_id).cert_expiration

        # Every certificate now expires within the buffer: each pass rotates it again.
        stack.conf.set_override("cert_expiry_buffer", 2 * VALIDITY, "house_keeping")
        stack.conf.set_override("cert_interval", 1, "house_keeping")
        housekeeper = HousekeepingService(stack.conf, stack.db, stack.drivers)
        seen = {old}

        def rotated_twice() -> bool:
            seen.add(served_certificate(stack, address))
            return len(seen) >= 3

        with RequestLoop(vip, port, timeout=3.0) as loop:
            housekeeper.start()
            try:
                wait_until(rotated_twice, 20, "two certificate rotations", interval=0.2)
            finally:
                housekeeper.stop()

        failures = [at for at, ok in loop.results if not ok]
        assert not failures and loop.successes() >= 20, (len(failures), loop.successes())
        assert served_certificate(stack, address) != old
        with pytest.raises(ssl.SSLCertVerificationError):
            served_certificate(stack, address, pinned_pem=old_pem)
        with stack.db.transaction() as session:
            amp = session.get(models.Amphora, instance.amphora_id)
            assert amp.cert_busy is False
            assert amp.cert_expiration > old_expiration
