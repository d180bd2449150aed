"""Fixtures of the integration tests that need a real Keystone (started once per run)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import rbac
from tests.support.keystone import Cloud, KeystoneServer, KeystoneUnavailable
from tests.support.live_api import LiveAPI, migrated_sqlite, running_api


@pytest.fixture(scope="session")
def keystone() -> Iterator[Cloud]:
    """Keystone with projects A and B, a user per role, and Ostia's service user.

    Fails (never skips) with the reason when Keystone cannot be installed or started.
    """
    server = KeystoneServer()
    try:
        server.start()
    except KeystoneUnavailable as err:
        pytest.fail(f"a real Keystone is needed for this test and did not start: {err}", pytrace=False)
    try:
        roles_a = tuple(r for r in rbac.ROLES if r != rbac.SERVICE)
        yield Cloud.seed(server, roles_a, (rbac.MEMBER, rbac.READER))
    finally:
        server.stop()


@pytest.fixture(scope="session")
def keystone_api(keystone: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAPI]:
    """Ostia's API authenticating with `keystone`, in its catalog as `load-balancer`."""
    path = tmp_path_factory.mktemp("keystone-api") / "octavia.db"
    options = keystone.authtoken_options(api_settings={"healthcheck_enabled": True})
    with running_api(migrated_sqlite(str(path)), options) as api:
        keystone.server.add_endpoint("load-balancer", "octavia", api.url)
        yield api
