"""Builders of in-memory load balancer graphs for the haproxy renderer's tests (no session).

Ids are deterministic (`<prefix>-0000-...-<n>`) so that expected lines can be written out.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from ostia.common import config, constants
from ostia.db import models

_counter = itertools.count(1)


def new_id(prefix: str) -> str:
    """A UUID-shaped id whose first group says what it is (`11111111` for listeners...)."""
    return str(uuid.UUID(int=(int(prefix, 16) << 96) | next(_counter)))


LB, LISTENER, POOL, MEMBER, HM, POLICY, RULE = (
    "10000000",
    "20000000",
    "30000000",
    "40000000",
    "50000000",
    "60000000",
    "70000000",
)


def conf(**haproxy: Any) -> Any:
    c = config.new_config()
    for key, value in haproxy.items():
        c.set_override(key, value, group="haproxy_amphora")
    return c


def make_lb(
    vip: str = "127.0.100.10", *, additional: tuple[str, ...] = (), project_id: str = "proj-1"
) -> models.LoadBalancer:
    lb = models.LoadBalancer(
        id=new_id(LB),
        project_id=project_id,
        enabled=True,
        provisioning_status=constants.ACTIVE,
        operating_status=constants.ONLINE,
    )
    lb.vip = models.Vip(ip_address=vip)
    for index, address in enumerate(additional):
        lb.additional_vips.append(models.AdditionalVip(subnet_id=f"subnet-{index}", ip_address=address))
    return lb


def make_listener(
    lb: models.LoadBalancer, protocol: str = constants.HTTP, port: int = 80, **kw: Any
) -> models.Listener:
    fields: dict[str, Any] = dict(
        id=new_id(LISTENER),
        project_id=lb.project_id,
        protocol=protocol,
        protocol_port=port,
        enabled=True,
        connection_limit=-1,
        provisioning_status=constants.ACTIVE,
        operating_status=constants.ONLINE,
        client_authentication="NONE",
        hsts_include_subdomains=False,
        hsts_preload=False,
    )
    fields.update(kw)
    listener = models.Listener(**fields)
    lb.listeners.append(listener)
    return listener


def make_pool(
    lb: models.LoadBalancer,
    protocol: str = constants.HTTP,
    algorithm: str = constants.ROUND_ROBIN,
    *,
    listener: models.Listener | None = None,
    persistence: str | None = None,
    cookie_name: str | None = None,
    **kw: Any,
) -> models.Pool:
    fields: dict[str, Any] = dict(
        id=new_id(POOL),
        project_id=lb.project_id,
        protocol=protocol,
        lb_algorithm=algorithm,
        enabled=True,
        tls_enabled=False,
        provisioning_status=constants.ACTIVE,
        operating_status=constants.ONLINE,
    )
    fields.update(kw)
    pool = models.Pool(**fields)
    lb.pools.append(pool)
    if persistence:
        pool.session_persistence = models.SessionPersistence(type=persistence, cookie_name=cookie_name)
    if listener is not None:
        listener.default_pool = pool
    return pool


def make_member(pool: models.Pool, address: str = "127.0.0.1", port: int = 8080, **kw: Any) -> models.Member:
    fields: dict[str, Any] = dict(
        id=new_id(MEMBER),
        project_id=pool.project_id,
        ip_address=address,
        protocol_port=port,
        weight=1,
        backup=False,
        enabled=True,
        provisioning_status=constants.ACTIVE,
        operating_status=constants.NO_MONITOR,
    )
    fields.update(kw)
    member = models.Member(**fields)
    pool.members.append(member)
    return member


def make_hm(pool: models.Pool, hm_type: str = constants.HTTP, **kw: Any) -> models.HealthMonitor:
    fields: dict[str, Any] = dict(
        id=new_id(HM),
        project_id=pool.project_id,
        type=hm_type,
        delay=5,
        timeout=3,
        fall_threshold=3,
        rise_threshold=2,
        enabled=True,
        provisioning_status=constants.ACTIVE,
        operating_status=constants.ONLINE,
    )
    if hm_type in (constants.HTTP, constants.HTTPS):
        fields.update(http_method="GET", url_path="/", expected_codes="200")
    fields.update(kw)
    hm = models.HealthMonitor(**fields)
    pool.health_monitor = hm
    return hm


def make_policy(
    listener: models.Listener,
    action: str,
    position: int,
    **kw: Any,
) -> models.L7Policy:
    fields: dict[str, Any] = dict(
        id=new_id(POLICY),
        project_id=listener.project_id,
        action=action,
        position=position,
        enabled=True,
        provisioning_status=constants.ACTIVE,
        operating_status=constants.ONLINE,
    )
    if action in ("REDIRECT_TO_URL", "REDIRECT_PREFIX"):
        fields["redirect_http_code"] = 302
    fields.update(kw)
    policy = models.L7Policy(**fields)
    listener.l7policies.append(policy)
    return policy


def make_rule(
    policy: models.L7Policy,
    rule_type: str,
    compare_type: str,
    value: str,
    key: str | None = None,
    invert: bool = False,
    **kw: Any,
) -> models.L7Rule:
    fields: dict[str, Any] = dict(
        id=new_id(RULE),
        project_id=policy.project_id,
        type=rule_type,
        compare_type=compare_type,
        value=value,
        key=key,
        invert=invert,
        enabled=True,
        provisioning_status=constants.ACTIVE,
        operating_status=constants.ONLINE,
    )
    fields.update(kw)
    rule = models.L7Rule(**fields)
    policy.rules.append(rule)
    return rule


def render(lb: models.LoadBalancer, c: Any = None, **kw: Any) -> str:
    from ostia.controller.worker.haproxy.render import render_haproxy_config

    kw.setdefault("amphora_id", "a0000000-0000-0000-0000-000000000001")
    kw.setdefault("base_path", "/var/lib/octavia")
    kw.setdefault("cert_dir", "/var/lib/octavia/certs")
    return render_haproxy_config(lb, c if c is not None else conf(), **kw)


def directives(text: str) -> list[str]:
    """Non-blank, non-comment lines, stripped: what haproxy reads as directives."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def section(text: str, header: str) -> list[str]:
    """The directives of the section that starts with `header` (e.g. "frontend <id>")."""
    lines = directives(text)
    start = lines.index(header)
    out = []
    for line in lines[start + 1 :]:
        if line.split()[0] in ("global", "defaults", "frontend", "backend", "peers", "listen"):
            break
        out.append(line)
    return out
