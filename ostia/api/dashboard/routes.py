"""The dashboard's pages: the shell at /dashboard and the fragments it polls.

The shell carries no data, so it answers without a token; the fragments are ordinary
authenticated requests (Keystone's middleware sees them like any v2 call) and read through
the v2 API as the caller (`V2Client`); only the heartbeat ages of the amphorae that API
returned come from the database, the API having no field for them. Writes never come here: the page sends
them from the browser to the v2 API itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from ostia.api.dashboard.tree import build_tree
from ostia.api.dashboard.v2_client import LBAAS, V2Client
from ostia.common import constants as c
from ostia.db import models
from ostia.db.session import Database

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/dashboard")
POLL_SECONDS = 2


def _db(request: Request) -> Database:
    db: Database = request.app.state.services.db
    return db


# Only the package's own files run or style the page, and no other site may frame it (its
# buttons delete things). htmx evaluates its trigger filters, hence 'unsafe-eval'.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; "
    "style-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
)


@router.get("", response_class=HTMLResponse)
async def page(request: Request) -> HTMLResponse:
    conf = request.app.state.services.conf
    response = templates.TemplateResponse(
        request,
        "dashboard.html",
        {
            "root": request.scope.get("root_path", ""),
            "auth_required": conf.api_settings.auth_strategy == "keystone",
            "poll_seconds": POLL_SECONDS,
        },
    )
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


@router.get("/")
async def page_with_slash(request: Request) -> RedirectResponse:
    return RedirectResponse(request.scope.get("root_path", "") + "/dashboard", status_code=307)


@router.get("/fragments/loadbalancers", response_class=HTMLResponse)
async def loadbalancers_fragment(request: Request) -> HTMLResponse:
    async with V2Client(request) as v2:
        lbs, listeners, pools, monitors = await v2.get_all(
            [f"{LBAAS}/loadbalancers", f"{LBAAS}/listeners", f"{LBAAS}/pools", f"{LBAAS}/healthmonitors"]
        )
        if not lbs.ok:
            return _refused(request, lbs.status, lbs.body)
        lb_items, pool_items = lbs.items("loadbalancers"), pools.items("pools")
        member_answers = await v2.get_all([f"{LBAAS}/pools/{p['id']}/members" for p in pool_items])
        # Statistics are the listeners': a load balancer without any has none to show.
        serving = [lb for lb in lb_items if lb.get("listeners")]
        stats_answers = await v2.get_all([f"{LBAAS}/loadbalancers/{lb['id']}/stats" for lb in serving])
    members = {p["id"]: a.items("members") for p, a in zip(pool_items, member_answers, strict=True)}
    stats = {lb["id"]: a.body["stats"] for lb, a in zip(serving, stats_answers, strict=True) if a.ok}
    tree = build_tree(
        lb_items, listeners.items("listeners"), pool_items, monitors.items("healthmonitors"), members, stats
    )
    return templates.TemplateResponse(request, "fragments/loadbalancers.html", {"tree": tree})


@router.get("/fragments/amphorae", response_class=HTMLResponse)
async def amphorae_fragment(request: Request) -> HTMLResponse:
    async with V2Client(request) as v2:
        answer, lbs = await v2.get_all(["/v2/octavia/amphorae", f"{LBAAS}/loadbalancers"])
    if answer.status == 403:
        return templates.TemplateResponse(
            request, "fragments/amphorae.html", {"admin_only": True, "amphorae": []}
        )
    if not answer.ok:
        return _refused(request, answer.status, answer.body)
    amphorae = [a for a in answer.items("amphorae") if a.get("status") != c.DELETED]
    ages = await run_in_threadpool(_heartbeat_ages, _db(request), [a["id"] for a in amphorae])
    names = {lb["id"]: lb.get("name") or lb["id"] for lb in lbs.items("loadbalancers")}
    amphorae.sort(key=lambda a: (names.get(a.get("loadbalancer_id") or "", ""), a.get("role") or "", a["id"]))
    return templates.TemplateResponse(
        request,
        "fragments/amphorae.html",
        {
            "admin_only": False,
            "amphorae": amphorae,
            "ages": ages,
            "lb_names": names,
            "stale_after": request.app.state.services.conf.health_manager.heartbeat_timeout,
        },
    )


@router.get("/fragments/subnet-options", response_class=HTMLResponse)
async def subnet_options(request: Request) -> HTMLResponse:
    """The VIP subnets the caller may choose, as <option>s (the Neutron look-up the CLI makes)."""
    async with V2Client(request) as v2:
        answer = await v2.get("/v2.0/subnets")
    subnets = sorted(answer.items("subnets"), key=lambda s: s.get("name") or s["id"])
    return templates.TemplateResponse(request, "fragments/subnet_options.html", {"subnets": subnets})


def _refused(request: Request, status: int, body: Any) -> HTMLResponse:
    # Keep the status: the page reacts to 401 by asking for a token again.
    fault = body.get("faultstring") if isinstance(body, dict) else None
    return templates.TemplateResponse(
        request, "fragments/refused.html", {"status": status, "fault": fault}, status_code=status
    )


def _heartbeat_ages(db: Database, amphora_ids: list[str]) -> dict[str, float]:
    """Seconds since each amphora's last heartbeat (none: never heard from)."""
    if not amphora_ids:
        return {}
    health = models.AmphoraHealth
    now = models.utcnow()
    with db.transaction() as session:
        rows = session.execute(
            select(health.amphora_id, health.last_update).where(health.amphora_id.in_(amphora_ids))
        )
        return {
            row.amphora_id: max(0.0, (now - row.last_update).total_seconds())
            for row in rows
            if row.last_update is not None
        }
