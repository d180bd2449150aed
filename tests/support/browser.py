"""A real headless browser for dashboard tests: Debian's chromium driven by Playwright.

Playwright's own browser downloads are never used (`playwright install` would fetch one
from the internet); it drives /usr/bin/chromium with a fresh profile per use. Screenshots
go to a directory the test prints, so a person can look at them after the run.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextlib.contextmanager
def chromium_page(width: int = 1400, height: int = 900) -> Iterator[Page]:
    """A Playwright Page in a fresh chromium profile; fails (never skips) without chromium."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: bash scripts/install-system-packages.sh test", pytrace=False)
    profile = tempfile.mkdtemp(prefix="ostia-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": width, "height": height},
            )
            try:
                page = context.pages[0] if context.pages else context.new_page()
                # Confirmation prompts (delete, remove) are answered yes, as a user would.
                page.on("dialog", lambda dialog: dialog.accept())
                yield page
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


class Screenshots:
    """Numbered full-page screenshots in one directory, printed once."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.taken: list[Path] = []
        print(f"\ndashboard screenshots: {self.directory}")

    def take(self, page: Page, name: str) -> Path:
        path = self.directory / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path
