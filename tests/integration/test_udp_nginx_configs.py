"""Every shape of rendered UDP listener passes `nginx -t` inside the agent's own nginx.conf,
and a refused one is reported with nginx's words (real nginx, stream module).

`nginx -t` binds the stream module's listening addresses, so the VIPs here are loopback
addresses (and the agent checks in the namespace nginx runs in)."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from ostia.amphora import udp_config
from ostia.amphora.nginx_process import NginxController
from ostia.common import constants
from ostia.controller.worker.render_nginx_udp import render_udp_listener_config
from tests.support import lb_graph
from tests.unit.test_render_nginx_udp import conf, udp_graph


@pytest.fixture
def workdir():  # type: ignore[no-untyped-def]
    path = tempfile.mkdtemp(prefix="ostia-nginx-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def nginx_check(workdir: str, stream: str) -> tuple[bool, str]:
    nginx = NginxController()
    stream_path = os.path.join(workdir, "stream.conf")
    main_path = os.path.join(workdir, "nginx.conf")
    with open(stream_path, "w") as handle:
        handle.write(stream)
    with open(main_path, "w") as handle:
        handle.write(
            udp_config.main_config(
                stream_path=stream_path,
                pid_path=os.path.join(workdir, "nginx.pid"),
                error_log=os.path.join(workdir, "error.log"),
                listener_id="l1",
                stats_port=9,
                stream_module=nginx.stream_module(),
            )
        )
    return nginx.check(workdir, main_path, os.path.join(workdir, "error.log"))


def shapes():  # type: ignore[no-untyped-def]
    for algorithm in (
        constants.ROUND_ROBIN,
        constants.LEAST_CONNECTIONS,
        constants.SOURCE_IP,
        constants.SOURCE_IP_PORT,
    ):
        yield algorithm, udp_graph(algorithm)
    lb, listener, pool, a, b = udp_graph()
    lb_graph.health_monitor(pool, constants.HM_UDP_CONNECT, delay=3)
    a.enabled, b.weight = False, 0
    lb_graph.member(pool, "127.0.0.3", 53, backup=True)
    yield "checked, admin-down, drained, backup", (lb, listener, pool, a, b)
    lb, listener, pool, a, b = udp_graph()
    pool.enabled = False
    yield "admin-down pool", (lb, listener, pool, a, b)
    lb, listener, pool, a, b = udp_graph()
    pool.members.clear()
    yield "no members", (lb, listener, pool, a, b)
    lb, listener, pool, a, b = udp_graph()
    listener.default_pool = None
    yield "no pool", (lb, listener, pool, a, b)
    lb, listener, pool, a, b = udp_graph(constants.SOURCE_IP)
    lb.vip.ip_address = "::1"  # `nginx -t` binds the address: one this host has
    a.ip_address = "fd00::1"
    listener.allowed_cidrs = ["10.0.0.0/8", "fd00::/64"]
    backup = lb_graph.member(pool, "127.0.0.3", 53, backup=True)
    assert backup
    yield "IPv6, allowed CIDRs, backup with hash", (lb, listener, pool, a, b)


def test_every_rendered_shape_passes_nginx_check(workdir: str) -> None:
    refused = []
    for name, (lb, listener, *_rest) in shapes():
        passed, output = nginx_check(workdir, render_udp_listener_config(lb, listener, conf()))
        if not passed:
            refused.append((name, output))
    assert refused == []


def test_a_refused_configuration_reports_nginx_words(workdir: str) -> None:
    passed, output = nginx_check(workdir, "server { listen 127.0.0.1:53 udp; bogus_directive; }")
    assert not passed and "bogus_directive" in output
