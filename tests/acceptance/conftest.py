"""One `ostia up` for the whole acceptance run, the real CLI pointed at it, two backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.acceptance.cli import OpenStackCLI
from tests.acceptance.service import OstiaService, running_ostia
from tests.support.backends import HttpBackend, http_backends


@pytest.fixture(scope="session")
def ostia() -> Iterator[OstiaService]:
    with running_ostia() as service:
        yield service


@pytest.fixture(scope="session")
def cli(ostia: OstiaService, tmp_path_factory: pytest.TempPathFactory) -> OpenStackCLI:
    return OpenStackCLI(ostia.url, tmp_path_factory.mktemp("cli-home"))


@pytest.fixture(scope="module")
def backends() -> Iterator[list[HttpBackend]]:
    with http_backends("a", "b") as started:
        yield started
