"""The controller's part of an amphora agent's configuration (Octavia's rendered agent conf).

Upstream renders amphora-agent.conf from the controller's options and ships it on a config
drive; here the same settings travel in `AmphoraSpec.agent_settings` and the compute driver
adds what only it knows (addresses, paths, the amphora id).
"""

from __future__ import annotations

from oslo_config import cfg


def agent_settings(conf: cfg.ConfigOpts, topology: str) -> dict[str, dict[str, str]]:
    """{section: {option: value}} for a new amphora of a load balancer with `topology`."""
    health = conf.health_manager
    agent = conf.amphora_agent
    settings: dict[str, dict[str, str]] = {
        "DEFAULT": {"debug": str(bool(conf.debug)).lower()},
        "health_manager": {
            "controller_ip_port_list": ",".join(health.controller_ip_port_list or []),
            "heartbeat_interval": str(health.heartbeat_interval),
        },
        "controller_worker": {"loadbalancer_topology": topology},
        "amphora_agent": {
            "agent_request_read_timeout": str(agent.agent_request_read_timeout),
            "agent_tls_protocol": agent.agent_tls_protocol,
            "user_log_facility": str(agent.user_log_facility),
            "administrative_log_facility": str(agent.administrative_log_facility),
        },
        "haproxy_amphora": {
            "bind_port": str(conf.haproxy_amphora.bind_port),
        },
    }
    if health.heartbeat_key:
        settings["health_manager"]["heartbeat_key"] = health.heartbeat_key
    for name in ("admin_log_targets", "tenant_log_targets"):
        targets = getattr(agent, name)
        if targets:
            settings["amphora_agent"][name] = ",".join(targets)
    return settings
