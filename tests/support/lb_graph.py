"""In-memory load balancer graphs (ORM objects, no session) for rendering real configurations.

    lb = load_balancer("127.0.100.7")
    web = listener(lb, 10080)
    backends = pool(lb, web)
    member(backends, "127.0.0.1", 8081)
    health_monitor(backends, delay=1)

Every object is ACTIVE/ONLINE and enabled with a fresh UUID; change fields directly
(`m.weight = 0`, `m.enabled = False`, `pool.members.remove(m)`) and render again.
"""

from __future__ import annotations

import uuid
from typing import Any

from ostia.common import constants
from ostia.db import models

PROJECT_ID = "ostia-test-project"


def _common() -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "project_id": PROJECT_ID,
        "enabled": True,
        "provisioning_status": constants.ACTIVE,
        "operating_status": constants.ONLINE,
    }


def load_balancer(vip_address: str, **fields: Any) -> models.LoadBalancer:
    lb = models.LoadBalancer(**{**_common(), "topology": "SINGLE", **fields})
    lb.vip = models.Vip(ip_address=vip_address)
    return lb


def listener(
    lb: models.LoadBalancer, port: int, protocol: str = constants.HTTP, **fields: Any
) -> models.Listener:
    item = models.Listener(
        **{
            **_common(),
            "protocol": protocol,
            "protocol_port": port,
            "connection_limit": -1,
            "client_authentication": "NONE",
            "hsts_include_subdomains": False,
            "hsts_preload": False,
            **fields,
        }
    )
    lb.listeners.append(item)
    return item


def pool(
    lb: models.LoadBalancer,
    default_of: models.Listener | None = None,
    algorithm: str = constants.ROUND_ROBIN,
    protocol: str = constants.HTTP,
    **fields: Any,
) -> models.Pool:
    item = models.Pool(
        **{**_common(), "protocol": protocol, "lb_algorithm": algorithm, "tls_enabled": False, **fields}
    )
    lb.pools.append(item)
    if default_of is not None:
        default_of.default_pool = item
    return item


def member(owner: models.Pool, address: str, port: int, weight: int = 1, **fields: Any) -> models.Member:
    item = models.Member(
        **{
            **_common(),
            "ip_address": address,
            "protocol_port": port,
            "weight": weight,
            "backup": False,
            **fields,
        }
    )
    owner.members.append(item)
    return item


def health_monitor(
    owner: models.Pool,
    monitor_type: str = constants.HTTP,
    delay: int = 1,
    timeout: int = 1,
    fall: int = 1,
    rise: int = 1,
    **fields: Any,
) -> models.HealthMonitor:
    item = models.HealthMonitor(
        **{
            **_common(),
            "type": monitor_type,
            "delay": delay,
            "timeout": timeout,
            "fall_threshold": fall,
            "rise_threshold": rise,
            "http_method": "GET",
            "url_path": "/",
            "expected_codes": "200",
            **fields,
        }
    )
    owner.health_monitor = item
    return item
