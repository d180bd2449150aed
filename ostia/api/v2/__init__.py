"""The v2 resources. Each module exposes `router`; admin ones live under /v2/octavia."""

from __future__ import annotations

from fastapi import APIRouter

from ostia.api.v2 import listeners, loadbalancers

# (router, is_admin_prefix)
ROUTERS: list[tuple[APIRouter, bool]] = [
    (loadbalancers.router, False),
    (listeners.router, False),
]
