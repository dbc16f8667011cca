"""A real browser for the browser tests: Debian's chromium driven by Playwright (its own
browser downloads are never used). `make test` installs chromium when it can (as root);
elsewhere these tests are skipped, saying why."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(
            f"no {CHROMIUM}: `make test` installs Debian's chromium when run as root; "
            "otherwise `apt-get install chromium` first"
        )
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A page of its own, failing the test on any script error it shows (a refused script or
    style, say); an answer's HTTP status is the test's to judge, not this."""
    context = await browser.new_context(viewport={"width": 1360, "height": 780})
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda message: _keep_error(errors, message))
    yield opened
    await context.close()
    assert errors == [], f"the page's scripts failed: {errors}"


def _keep_error(errors: list[str], message: ConsoleMessage) -> None:
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        errors.append(message.text)
