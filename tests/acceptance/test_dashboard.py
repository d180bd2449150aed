"""The dashboard in a real headless chromium against a real `ostia up` (API, worker, health
manager, local amphorae running haproxy) and real HTTP backends.

A person's path through the page: open the service's root URL in the browser, have a bad
member port refused with the API's own message, create a load balancer with a listener, a
pool, two members and a health monitor from the form, watch it turn ACTIVE without
reloading, send traffic and see the statistics move, kill a backend and see its member turn
ERROR with the reason, add a member, fail the amphora over, remove the dead member, disable
another, delete the whole load balancer. Screenshots of each step go to the directory the
test prints.
"""

from __future__ import annotations

import random
import re

import httpx
from playwright.sync_api import Page, expect

from tests.acceptance.service import OstiaService, wait_until
from tests.support.backends import HttpBackend, fetch, http_backends
from tests.support.browser import Screenshots, chromium_page

WAIT_MS = 20_000


def _node(page: Page, kind: str, name: str) -> object:
    return page.locator(f'#tree li[data-kind="{kind}"][data-name="{name}"]')


def _member(page: Page, backend: HttpBackend) -> object:
    return page.locator(f'#tree li[data-kind="member"][data-address="127.0.0.1:{backend.port}"]')


def _statuses(node: object) -> object:
    # The node's own status badges, not those of its children.
    return node.locator(":scope > .line .status")  # type: ignore[attr-defined]


def test_dashboard_drives_a_load_balancer_through_its_life(ostia: OstiaService, tmp_path: object) -> None:
    shots = Screenshots(tmp_path / "dashboard-screenshots")  # type: ignore[operator]
    name = f"dash-{random.randint(1000, 9999)}"
    port = random.randint(20000, 29999)
    with http_backends("alpha", "beta", "gamma") as (alpha, beta, gamma), chromium_page() as page:
        # Script errors, refused resources and policy violations all land on the console.
        console_errors: list[str] = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda err: console_errors.append(str(err)))

        # The root URL in a browser leads to the dashboard.
        page.goto(ostia.url + "/")
        assert page.url == ostia.url + "/dashboard"
        expect(page.locator("#tree")).to_contain_text("No load balancers yet", timeout=WAIT_MS)
        page.evaluate("window.notReloaded = true")

        page.get_by_role("button", name="Create load balancer").click()
        form = page.locator("#create-lb-form")
        form.get_by_label("Name").fill(name)
        expect(form.locator('select[name="vip_subnet_id"] option:checked')).to_contain_text("private-subnet")
        form.get_by_label("Port", exact=True).fill(str(port))
        # The API validates, not the page: its refusal is shown and the form stays open.
        form.get_by_label("Members").fill("127.0.0.1:99999")
        form.get_by_role("button", name="Create").click()
        expect(form.locator(".form-error")).to_contain_text(
            "Invalid input for field/attribute listeners.0.default_pool.members.0.protocol_port",
            timeout=WAIT_MS,
        )
        expect(form).to_be_visible()
        # The browser logs the refused call; that one is expected, nothing else is.
        assert all("status of 400" in e for e in console_errors), console_errors
        console_errors.clear()
        form.get_by_label("Members").fill(f"127.0.0.1:{alpha.port}\n127.0.0.1:{beta.port}")
        form.get_by_label("Every (s)").fill("1")
        form.get_by_label("Down after").fill("1")
        shots.take(page, "create-form")
        form.get_by_role("button", name="Create").click()

        lb = _node(page, "loadbalancer", name)
        expect(lb).to_be_visible(timeout=WAIT_MS)
        expect(_statuses(lb).first).to_have_text("ACTIVE", timeout=WAIT_MS)
        expect(_statuses(_member(page, alpha))).to_have_text(["ACTIVE", "ONLINE"], timeout=WAIT_MS)
        expect(_statuses(_member(page, beta))).to_have_text(["ACTIVE", "ONLINE"], timeout=WAIT_MS)
        assert page.evaluate("window.notReloaded") is True, "the page reloaded"

        # The amphora serving it: role, management address, a fresh heartbeat.
        amphora = page.locator("#amphorae tr", has_text=name)
        expect(amphora).to_contain_text("STANDALONE", timeout=WAIT_MS)
        expect(amphora.locator("td").nth(4)).to_have_text(re.compile(r"^127\.\d+\.\d+\.\d+$"))
        expect(amphora.locator(".heartbeat")).to_have_text(re.compile(r"^\d+ s ago$"), timeout=WAIT_MS)

        # Traffic through the VIP shows in the statistics and the chart.
        vip = ostia.get("/v2/lbaas/loadbalancers", name=name)["loadbalancers"][0]["vip_address"]
        served = {fetch(vip, port)[1] for _ in range(12)}
        assert served == {"alpha", "beta"}
        stats = lb.locator(":scope > .stats")
        expect(stats).to_have_attribute(
            "data-total", re.compile(r"^(1[2-9]|[2-9]\d|\d{3,})$"), timeout=WAIT_MS
        )
        points = stats.locator("polyline")
        expect(points).to_have_attribute("points", re.compile(r"\d.* \d"), timeout=WAIT_MS)
        shots.take(page, "active-with-traffic")

        # A backend dies: its health check fails and the member turns ERROR, with why.
        beta.stop()
        dead = _member(page, beta)
        expect(_statuses(dead)).to_have_text(["ACTIVE", "ERROR"], timeout=WAIT_MS)
        expect(dead.locator(":scope > .reason")).to_contain_text("fails its HTTP health check")
        expect(_statuses(lb)).to_have_text(["ACTIVE", "DEGRADED"], timeout=WAIT_MS)
        shots.take(page, "member-error")

        # Add a member from the pool's dialog: a new backend joins and is healthy.
        lb.locator('li[data-kind="pool"] > .line').get_by_role("button", name="Add member").click()
        member_form = page.locator("#add-member-form")
        member_form.get_by_label("Address").fill("127.0.0.1")
        member_form.get_by_label("Port").fill(str(gamma.port))
        member_form.get_by_role("button", name="Add").click()
        expect(_statuses(_member(page, gamma))).to_have_text(["ACTIVE", "ONLINE"], timeout=WAIT_MS)

        # Failover: a new amphora replaces the old one and the load balancer is ACTIVE again.
        old_amphora = amphora.get_attribute("data-id")
        lb.locator(":scope > .line").get_by_role("button", name="Failover").click()
        expect(page.locator(f'#amphorae tr[data-id="{old_amphora}"]')).to_have_count(0, timeout=WAIT_MS)
        expect(amphora).to_have_count(1)
        expect(amphora.locator(".heartbeat")).to_have_text(re.compile(r"^\d+ s ago$"), timeout=WAIT_MS)
        expect(_statuses(lb).first).to_have_text("ACTIVE", timeout=WAIT_MS)
        assert fetch(vip, port)[1] in {"alpha", "gamma"}

        # Remove the dead member: its row leaves the tree.
        dead.locator(":scope > .line").get_by_role("button", name="Remove").click()
        expect(dead).to_have_count(0, timeout=WAIT_MS)

        # Disable the healthy member: the same PUT the CLI's `member set --disable` sends.
        _member(page, alpha).get_by_role("button", name="Disable").click()
        expect(_member(page, alpha).locator(":scope > .line")).to_contain_text("disabled", timeout=WAIT_MS)
        expect(_statuses(_member(page, alpha))).to_have_text(["ACTIVE", "OFFLINE"], timeout=WAIT_MS)

        # Delete with cascade: the load balancer leaves the page and the service.
        lb.locator(":scope > .line").get_by_role("button", name="Delete").click()
        expect(lb).to_have_count(0, timeout=WAIT_MS)
        expect(page.locator("#amphorae tr", has_text=name)).to_have_count(0, timeout=WAIT_MS)
        shots.take(page, "deleted")
        assert page.evaluate("window.notReloaded") is True, "the page reloaded"
        assert console_errors == []

    def gone() -> bool:
        found = httpx.get(f"{ostia.url}/v2/lbaas/loadbalancers", params={"name": name}, timeout=5).json()[
            "loadbalancers"
        ]
        return not found

    wait_until(gone, 20, f"{name} deleted")
    assert len(shots.taken) == 4 and all(p.stat().st_size > 10_000 for p in shots.taken)
