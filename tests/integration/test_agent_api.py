"""Agent API routes, payloads and error envelopes as upstream's agent answers them."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import uuid

import httpx
import pytest

from ostia.common import exceptions
from tests.integration.agent_fixtures import (  # noqa: F401 (fixtures)
    LocalAgent,
    agent,
    agent_ca,
    free_port,
    heartbeat_listener,
    processes_under,
)

LB_ID = "0d5b4b47-3d3a-4f8e-9d0b-5a6c1c1e2f30"


class AgentHTTP:
    """Raw HTTPS calls with the controller's certificate, for status codes and bodies."""

    def __init__(self, agent: LocalAgent, ca) -> None:  # noqa: F811
        from ostia.common.tls import client_context

        context = client_context(ca.files.client_cert_and_key, ca.files.server_ca_cert)
        self.client = httpx.Client(verify=context, timeout=15, base_url=f"https://{agent.host}:{agent.port}")
        self.server_name = agent.amphora_id

    def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        return self.client.request(method, path, extensions={"sni_hostname": self.server_name}, **kwargs)  # type: ignore[arg-type]

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)

    def put(self, path: str, **kwargs: object) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def post(self, path: str, **kwargs: object) -> httpx.Response:
        return self.request("POST", path, **kwargs)


@pytest.fixture(scope="module")
def http(agent: LocalAgent, agent_ca):  # noqa: F811
    client = AgentHTTP(agent, agent_ca)
    yield client
    client.client.close()


def test_root_answers_the_api_version(agent):  # noqa: F811
    assert agent.driver.get_api_version(agent.amp) == "1.0"


def test_info_names_host_haproxy_version_and_api_version(agent):  # noqa: F811
    info = agent.driver.get_info(agent.amp)
    assert set(info) >= {"hostname", "haproxy_version", "api_version"}
    assert info["api_version"] == "1.0" and info["haproxy_version"].startswith("2.")
    assert info["base_path"] == agent.base_path
    assert info["base_cert_dir"] == agent.base_cert_dir


def test_details_report_resources(agent):  # noqa: F811
    details = agent.driver.get_details(agent.amp)
    assert details["cpu_count"] >= 1 and details["memory"]["total"] > 0
    assert details["topology"] == "SINGLE" and details["topology_status"] == "OK"
    assert isinstance(details["listeners"], list) and details["active"] is True


def test_unknown_route_and_wrong_method_answer_werkzeug_style_errors(http):
    missing = http.get("/1.0/no-such-thing")
    assert missing.status_code == 404
    assert missing.json()["http_code"] == 404 and missing.json()["error"].startswith("404")
    wrong = http.post("/1.0/info")
    assert wrong.status_code == 405 and wrong.json()["http_code"] == 405


def test_path_ids_that_are_not_ids_are_refused(http):
    assert http.get("/1.0/loadbalancer/..%2F..%2Fetc/haproxy").status_code in (400, 404)
    answer = http.put("/1.0/loadbalancer/x.y/start")
    assert answer.status_code == 400 and answer.json()["message"] == "Invalid request"


def test_unknown_action_is_a_400_with_message_and_details(http):
    answer = http.put(f"/1.0/loadbalancer/{LB_ID}/restart")
    assert answer.status_code == 400
    assert answer.json() == {"message": "Invalid Request", "details": "Unknown action: restart"}


def test_lb_certificate_upload_md5_and_delete(agent, http):  # noqa: F811
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    md5 = agent.driver.upload_lb_certificate(agent.amp, LB_ID, "tls-container.pem", pem)

    assert md5 == hashlib.md5(pem).hexdigest()
    assert agent.driver.get_lb_certificate_md5(agent.amp, LB_ID, "tls-container.pem") == md5
    path = os.path.join(agent.base_cert_dir, LB_ID, "tls-container.pem")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not agent.driver.ensure_lb_certificate(agent.amp, LB_ID, "tls-container.pem", pem)

    agent.driver.delete_lb_certificate(agent.amp, LB_ID, "tls-container.pem")
    agent.driver.delete_lb_certificate(agent.amp, LB_ID, "tls-container.pem")
    assert agent.driver.get_lb_certificate_md5(agent.amp, LB_ID, "tls-container.pem") is None
    missing = http.get(f"/1.0/loadbalancer/{LB_ID}/certificates/tls-container.pem")
    assert missing.status_code == 404 and missing.json()["message"] == "Certificate Not Found"
    bad = http.put(f"/1.0/loadbalancer/{LB_ID}/certificates/cert.txt", content=pem)
    assert bad.status_code == 400 and bad.json() == {"message": "Filename has wrong format"}


def test_plug_vip_accepts_post_and_put_and_records_the_request(agent, http):  # noqa: F811
    body = {
        "subnet_cidr": "127.0.100.0/24",
        "gateway": "127.0.100.1",
        "mac_address": "fa:16:3e:00:00:01",
        "mtu": 1500,
        "host_routes": [{"destination": "10.0.0.0/8", "nexthop": "127.0.100.1"}],
    }
    agent.driver.plug_vip(agent.amp, "127.0.100.20", body)
    answer = http.put("/1.0/plug/vip/127.0.100.21", json=body)

    assert answer.status_code == 202 and answer.json()["message"] == "OK"
    with open(os.path.join(agent.base_path, "plug", "vip-127.0.100.20.json")) as handle:
        assert json.load(handle)["subnet_cidr"] == "127.0.100.0/24"


def test_plug_vip_validates_like_upstream(http):
    missing = http.post("/1.0/plug/vip/127.0.100.20", json={"gateway": None})
    assert missing.status_code == 400
    assert "Invalid subnet information" in missing.json()["error"]
    bad_vip = http.post(
        "/1.0/plug/vip/not-an-ip",
        json={"subnet_cidr": "127.0.100.0/24", "gateway": None, "mac_address": "fa:16:3e:00:00:01"},
    )
    assert bad_vip.status_code == 400 and bad_vip.json()["message"] == "Invalid VIP"
    bad_vrrp = http.post(
        "/1.0/plug/vip/127.0.100.20",
        json={
            "subnet_cidr": "127.0.100.0/24",
            "gateway": None,
            "mac_address": "fa:16:3e:00:00:01",
            "vrrp_ip": "nope",
        },
    )
    assert bad_vrrp.status_code == 400 and bad_vrrp.json()["message"] == "Invalid VRRP Address"


def test_plug_network_accepts_a_port_and_refuses_a_bad_one(agent, http):  # noqa: F811
    port = {
        "mac_address": "fa:16:3e:00:00:02",
        "fixed_ips": [{"ip_address": "127.0.200.5", "subnet_cidr": "127.0.200.0/24"}],
    }
    agent.driver.plug_network(agent.amp, port)
    again = http.put("/1.0/plug/network", json=port)
    assert again.status_code == 202 and "Updated existing interface" in again.json()["details"]

    assert http.post("/1.0/plug/network", json={"fixed_ips": []}).status_code == 400
    bad = http.post(
        "/1.0/plug/network", json={"mac_address": "fa:16:3e:00:00:03", "fixed_ips": [{"ip_address": "x"}]}
    )
    assert bad.status_code == 400 and bad.json()["message"] == "Invalid network port"


def test_vrrp_is_not_implemented_on_a_local_amphora(agent, http):  # noqa: F811
    with pytest.raises(exceptions.AgentNotImplemented) as upload:
        agent.driver.upload_vrrp_config(agent.amp, "vrrp_instance x {}\n")
    assert "local amphora" in str(upload.value.details)
    with pytest.raises(exceptions.AgentNotImplemented):
        agent.driver.vrrp_action(agent.amp, "start")
    assert http.put("/1.0/vrrp/explode").status_code == 400


def test_udp_listener_upload_read_act_list_and_delete(agent, http):  # noqa: F811
    listener_id = str(uuid.uuid4())
    unknown = http.get(f"/1.0/listeners/{listener_id}/udp_listener")
    assert unknown.status_code == 404
    assert unknown.json() == {
        "message": "UDP Listener Not Found",
        "details": f"No UDP listener with UUID: {listener_id}",
    }
    path = f"/1.0/listeners/{agent.amphora_id}/{listener_id}/udp_listener"
    refused = http.put(path, content=b"virtual_server 1.2.3.4 53 {}\n")
    assert refused.status_code == 400 and "virtual_server" in refused.json()["details"]
    assert http.get(f"/1.0/listeners/{listener_id}/udp_listener").status_code == 404
    port = free_port("127.0.0.1", socket.SOCK_DGRAM)
    config = (
        f"#ostia:listener {listener_id}\n"
        "upstream nowhere { server 127.0.0.1:9 down; }\n"
        f"server {{ listen 127.0.0.1:{port} udp; proxy_pass nowhere; }}\n"
    ).encode()
    stored = http.put(path, content=config)
    assert stored.status_code == 200 and stored.headers["etag"] == hashlib.md5(config).hexdigest()
    assert http.get(f"/1.0/listeners/{listener_id}/udp_listener").content == config
    try:
        assert http.put(f"/1.0/loadbalancer/{listener_id}/reload").status_code == 202
        entry = {"status": "ACTIVE", "uuid": listener_id, "type": "UDP"}
        assert entry in http.get("/1.0/listeners").json()
        details = http.get("/1.0/details").json()
        assert listener_id in details["listeners"]
        assert details["lvs_listener_process_count"] == 1
        assert details["nginx_version"].startswith("1.")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
            with pytest.raises(OSError):
                taken.bind(("127.0.0.1", port))  # nginx holds the listener's port
        assert http.put(f"/1.0/loadbalancer/{listener_id}/stop").status_code == 202
        assert {**entry, "status": "STOPPED"} in http.get("/1.0/listeners").json()
    finally:
        assert http.request("DELETE", f"/1.0/listeners/{listener_id}").status_code == 200
    assert all(e["uuid"] != listener_id for e in http.get("/1.0/listeners").json())
    assert processes_under(os.path.join(agent.base_path, "udp", listener_id)) == []


def test_interface_lookup_knows_loopback_addresses(http):
    assert http.get("/1.0/interface/127.0.100.20").json() == {"message": "OK", "interface": "lo"}
    assert http.get("/1.0/interface/nope").status_code == 400


def test_invalid_agent_config_is_refused_and_the_file_kept(agent):  # noqa: F811
    with open(agent.config_path) as handle:
        before = handle.read()
    with pytest.raises(exceptions.AgentInternalError) as refused:
        agent.driver.update_agent_config(agent.amp, "[health_manager]\nheartbeat_interval = x\n")
    assert refused.value.message == "Unable to update amphora-agent configuration."
    with open(agent.config_path) as handle:
        assert handle.read() == before


def test_haproxy_config_of_unknown_lb_is_404_with_upstream_message(http):
    answer = http.get(f"/1.0/loadbalancer/{uuid.uuid4()}/haproxy")
    assert answer.status_code == 404 and answer.json()["message"] == "Loadbalancer Not Found"
