"""Serve the agent API over HTTPS with uvicorn, client certificates required."""

from __future__ import annotations

import logging
import ssl

import uvicorn

from ostia.amphora.agent import Agent
from ostia.amphora.api.app import create_app
from ostia.common import constants
from ostia.common.quiet_server import DatedApp, QuietServer

LOG = logging.getLogger(__name__)


def build_server(agent: Agent) -> uvicorn.Server:
    context = agent.make_ssl_context()

    def use_agent_context(config: uvicorn.Config, default: object) -> ssl.SSLContext:
        # The agent keeps this very object so that PUT /1.0/certificate can load a new
        # certificate into it without restarting the server.
        return context

    options = agent.conf.haproxy_amphora
    config = uvicorn.Config(
        DatedApp(create_app(agent)),
        host=options.bind_host,
        port=options.bind_port,
        ssl_context_factory=use_agent_context,
        lifespan="off",
        log_config=None,
        access_log=bool(agent.conf.debug),
        server_header=False,
        # uvicorn refreshes its Date header on a timer; DatedApp writes it per response.
        date_header=False,
        proxy_headers=False,
        timeout_keep_alive=constants.AGENT_KEEPALIVE_SECONDS,
        timeout_graceful_shutdown=5,
    )
    return QuietServer(config)


def serve(agent: Agent) -> None:
    """Run until SIGTERM/SIGINT. haproxy processes keep running after the agent stops."""
    server = build_server(agent)
    agent.heartbeat.start()
    agent.supervisor.start()
    agent.vrrp.supervise()
    agent.udp.start()
    try:
        server.run()
    finally:
        agent.udp.stop()
        agent.supervisor.stop()
        agent.heartbeat.stop()
