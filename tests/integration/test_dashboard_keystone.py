"""The dashboard with `auth_strategy = keystone`, in headless chromium against a real Keystone.

The page asks who is calling before it shows anything, refuses a bad token and a wrong
password with a message, and once signed in shows only what the token's project may see;
what it creates belongs to that project.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support import rbac
from tests.support.browser import Screenshots, chromium_page
from tests.support.keystone import PROJECT_A, PROJECT_B, Cloud
from tests.support.live_api import LiveAPI, migrated_sqlite, running_api
from tests.support.objects import check, create_lb, fault

pytestmark = pytest.mark.slow
WAIT_MS = 15_000


@pytest.fixture
def api(keystone: Cloud, tmp_path: Path) -> Iterator[LiveAPI]:
    # Its own database: the shared keystone_api's load balancers are other tests' business.
    with running_api(migrated_sqlite(str(tmp_path / "octavia.db")), keystone.authtoken_options()) as started:
        yield started


def _sign_in_dialog(page: Page) -> object:
    return page.locator("dialog#sign-in")


def test_dashboard_signs_in_with_keystone_and_shows_only_the_projects_objects(
    api: LiveAPI, keystone: Cloud, tmp_path: Path
) -> None:
    shots = Screenshots(tmp_path / "dashboard-screenshots")
    token_a, token_b = keystone.token(rbac.MEMBER, PROJECT_A), keystone.token(rbac.MEMBER, PROJECT_B)
    mine = create_lb(api.client(**{"X-Auth-Token": token_a}), name="lb-of-project-a")
    theirs = create_lb(api.client(**{"X-Auth-Token": token_b}), name="lb-of-project-b")
    user = keystone.user(rbac.MEMBER, PROJECT_A)

    with chromium_page() as page:
        page.goto(api.url + "/dashboard")
        dialog = _sign_in_dialog(page)
        expect(dialog).to_be_visible()
        expect(page.locator("#tree")).to_contain_text("Loading")  # nothing read without a token

        dialog.get_by_label("Token").fill("not-a-valid-token")
        dialog.get_by_role("button", name="Sign in").click()
        expect(dialog.locator("#sign-in-error")).to_have_text(
            "Your token was refused or has expired.", timeout=WAIT_MS
        )

        dialog.get_by_label("User").fill(user.name)
        dialog.get_by_label("Password").fill("wrong password")
        dialog.get_by_label("Project").fill(PROJECT_A)
        dialog.get_by_role("button", name="Sign in").click()
        expect(dialog.locator("#sign-in-error")).to_have_text(
            "Keystone refused these credentials for this project.", timeout=WAIT_MS
        )
        shots.take(page, "sign-in-refused")

        dialog.get_by_label("Password").fill(user.password)
        dialog.get_by_role("button", name="Sign in").click()
        expect(dialog).to_be_hidden(timeout=WAIT_MS)
        tree = page.locator("#tree")
        expect(tree.locator(f'li[data-id="{mine["id"]}"]')).to_be_visible(timeout=WAIT_MS)
        expect(tree.locator(f'li[data-id="{theirs["id"]}"]')).to_have_count(0)
        expect(page.locator("#amphorae")).to_contain_text("administrators only")

        # Created from the page with the signed-in token: it belongs to project A.
        page.get_by_role("button", name="Create load balancer").click()
        form = page.locator("#create-lb-form")
        form.get_by_label("Name").fill("made-in-the-browser")
        form.get_by_label("Members").fill("127.0.0.1:8080")
        form.get_by_role("button", name="Create").click()
        expect(tree.locator('li[data-name="made-in-the-browser"]')).to_be_visible(timeout=WAIT_MS)
        shots.take(page, "signed-in-project-a")

        page.get_by_role("button", name="Sign out").click()
        expect(dialog).to_be_visible()

    made = check(
        httpx.get(
            f"{api.url}/v2/lbaas/loadbalancers",
            params={"name": "made-in-the-browser"},
            headers={"X-Auth-Token": token_a},
        ),
        200,
    )["loadbalancers"]
    assert [lb["project_id"] for lb in made] == [user.project_id]
    seen_by_b = check(httpx.get(f"{api.url}/v2/lbaas/loadbalancers", headers={"X-Auth-Token": token_b}), 200)[
        "loadbalancers"
    ]
    assert [lb["name"] for lb in seen_by_b] == ["lb-of-project-b"]


def test_dashboard_page_answers_without_token_and_its_data_does_not(api: LiveAPI) -> None:
    assert httpx.get(f"{api.url}/dashboard").status_code == 200
    assert httpx.get(f"{api.url}/dashboard/static/dashboard.js").status_code == 200
    for fragment in ("loadbalancers", "amphorae", "subnet-options"):
        response = httpx.get(f"{api.url}/dashboard/fragments/{fragment}")
        assert response.status_code == 401, fragment


@pytest.mark.parametrize(
    "body", [b"", b"not json", b'{"username": "u"}', b'{"username": "", "password": "p", "project": "a"}']
)
def test_password_sign_in_refuses_an_incomplete_body_with_a_fault(api: LiveAPI, body: bytes) -> None:
    response = httpx.post(
        f"{api.url}/dashboard/login", content=body, headers={"Content-Type": "application/json"}
    )
    assert fault(response, 400) == "Give a user, a password and a project."
