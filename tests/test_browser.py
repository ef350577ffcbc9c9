"""The web page in a real browser: Playwright driving Debian's /usr/bin/chromium headless.

Open the page, type a title, add two tracks from the search suggestions (one by mouse, one by
keyboard), see at least 10 continuations, click one and see the list refresh. The screenshot is
saved to test-artifacts/serve-page.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spotifier.serve import create_app
from spotifier.serve.search import tokenize
from spotifier.serve.testing import ServerThread, world_service

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    service = world_service(tmp_path_factory.mktemp("serve-browser"), ("item-knn",))
    with ServerThread(create_app(service)) as server:
        yield service, server.url


@pytest.fixture(scope="module")
def page(served):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        yield context.new_page()
        context.close()
        browser.close()


def refreshes(page) -> int:
    return int(page.get_attribute("#continuation", "data-refresh") or 0)


def wait_for_refresh_after(page, count: int) -> None:
    page.wait_for_function(
        "n => Number(document.querySelector('#continuation').dataset.refresh) > n "
        "&& document.querySelector('#continuation').getAttribute('aria-busy') === 'false'",
        arg=count,
    )


def search_words(service, rank: int) -> str:
    """A query that finds the rank-th most popular track: its artist's first name word."""
    import numpy as np

    track = int(np.argsort(-service.popularity, kind="stable")[rank])
    return tokenize(service.describe(track)["artist"])[0]


def test_build_a_playlist_in_the_page(page, served):
    service, url = served
    page.goto(url + "/")
    page.wait_for_selector("#continuation li")  # the empty playlist gets popular tracks
    assert page.locator("#model option").count() == 1

    before = refreshes(page)
    page.fill("#title", "road trip")
    wait_for_refresh_after(page, before)

    # First track: type, then click a suggestion with the mouse.
    page.fill("#search", search_words(service, 0))
    page.wait_for_selector("#suggestions li[role=option]")
    first = page.locator("#suggestions li[role=option]").first
    first_uri = first.get_attribute("data-uri")
    before = refreshes(page)
    first.click()
    wait_for_refresh_after(page, before)

    # Second track: type, then choose with the keyboard (ArrowDown, Enter).
    page.fill("#search", search_words(service, 5))
    page.wait_for_selector("#suggestions li[role=option]")
    options = page.locator("#suggestions li[role=option]")
    expected = options.nth(1 if options.count() > 1 else 0).get_attribute("data-uri")
    before = refreshes(page)
    if options.count() > 1:
        page.press("#search", "ArrowDown")
    page.press("#search", "Enter")
    wait_for_refresh_after(page, before)

    playlist = [li.get_attribute("data-uri") for li in page.locator("#playlist li").all()]
    assert playlist == [first_uri, expected]
    suggested = [li.get_attribute("data-uri") for li in page.locator("#continuation li").all()]
    assert len(suggested) >= 10
    assert not set(playlist) & set(suggested)  # seeds are never suggested

    # Click the third suggestion: it joins the playlist and the list refreshes without it.
    clicked = suggested[2]
    before = refreshes(page)
    page.locator("#continuation li button").nth(2).click()
    wait_for_refresh_after(page, before)
    playlist = [li.get_attribute("data-uri") for li in page.locator("#playlist li").all()]
    assert playlist[-1] == clicked and len(playlist) == 3
    refreshed = [li.get_attribute("data-uri") for li in page.locator("#continuation li").all()]
    assert clicked not in refreshed and len(refreshed) >= 10
    assert refreshed != suggested
    assert "tracks by item-knn" in page.inner_text("#status")

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-page.png"), full_page=False)

    # Removing a track with the keyboard refreshes too.
    before = refreshes(page)
    page.locator("#playlist li .remove").first.focus()
    page.keyboard.press("Enter")
    wait_for_refresh_after(page, before)
    assert page.locator("#playlist li").count() == 2
