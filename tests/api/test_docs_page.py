"""``/docs`` in a real browser with no way out to the internet: the page renders from
the assets the package ships (it used to load Swagger UI from a CDN and stay blank)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"


async def test_the_api_docs_render_without_internet_access(api_url: str, tmp_path: Path) -> None:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 (one stat before anything runs)
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing (.ci/run installs Debian's chromium)")
        pytest.skip(f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.async_api import Route, async_playwright

    outside: list[str] = []

    async def air_gap(route: Route) -> None:
        if route.request.url.startswith(api_url):
            await route.continue_()
        else:  # what a CDN request meets on an isolated network
            outside.append(route.request.url)
            await route.abort()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = await browser.new_page()
            await page.route("**/*", air_gap)
            await page.goto(f"{api_url}/docs")
            await page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
            title = await page.inner_text(".swagger-ui .info .title")
            operations = await page.locator(".opblock").count()
            await page.screenshot(path=str(tmp_path / "docs.png"))
        finally:
            await browser.close()
    if os.environ.get("CSMS_SCREENSHOTS"):  # to look at it
        shutil.copy(tmp_path / "docs.png", Path(os.environ["CSMS_SCREENSHOTS"]) / "docs.png")
    assert "CSMS API" in title
    assert operations > 30, operations
    assert outside == [], outside
