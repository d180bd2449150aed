"""A TERMINATED_HTTPS listener end to end: stored certificate -> worker -> haproxy TLS."""

from __future__ import annotations

import socket
import ssl

from cryptography import x509 as cx509

from ostia.drivers.certs.local_manager import LocalCertManager
from tests.functional.test_certificate_refs import _self_signed
from tests.support.backends import free_port, http_backends
from tests.support.objects import check
from tests.support.worker_stack import worker_stack


def _https_get(host: str, port: int, server_name: str) -> tuple[int, str, str]:
    """(status, body, subject of the certificate the VIP presented) with SNI `server_name`."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, port), timeout=5) as plain,
        context.wrap_socket(plain, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    subject = cx509.load_der_x509_certificate(der).subject.rfc4514_string()
    return status, body.decode(errors="replace"), subject


def test_terminated_https_listener_serves_the_stored_certificate() -> None:
    with (
        worker_stack(cert_manager="local_cert_manager") as stack,
        stack.api.client() as http,
        http_backends("a") as (backend,),
    ):
        ref = LocalCertManager(stack.conf).store_cert("p", *_self_signed("www.example.com"))
        vip = stack.allocate_vip()
        port = free_port(vip)
        lb = check(
            http.post(
                "/v2/lbaas/loadbalancers",
                json={"loadbalancer": {"vip_subnet_id": "private-subnet", "vip_address": vip}},
            ),
            201,
        )["loadbalancer"]
        stack.wait_lb(http, lb["id"])
        listener = check(
            http.post(
                "/v2/lbaas/listeners",
                json={
                    "listener": {
                        "loadbalancer_id": lb["id"],
                        "protocol": "TERMINATED_HTTPS",
                        "protocol_port": port,
                        "default_tls_container_ref": ref,
                        "insert_headers": {"X-Forwarded-Proto": "true"},
                    }
                },
            ),
            201,
        )["listener"]
        stack.wait_lb(http, lb["id"])
        pool = check(
            http.post(
                "/v2/lbaas/pools",
                json={
                    "pool": {"listener_id": listener["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
                },
            ),
            201,
        )["pool"]
        stack.wait_lb(http, lb["id"])
        check(
            http.post(
                f"/v2/lbaas/pools/{pool['id']}/members",
                json={"member": {"address": backend.address, "protocol_port": backend.port}},
            ),
            201,
        )
        stack.wait_lb(http, lb["id"])
        status, body, common_name = _https_get(vip, port, "www.example.com")
        assert (status, body.strip()) == (200, "a")
        assert common_name == "CN=www.example.com,O=Ostia"
        check(http.delete(f"/v2/lbaas/loadbalancers/{lb['id']}", params={"cascade": "true"}), 204)
        stack.wait_lb(http, lb["id"], "DELETED")
