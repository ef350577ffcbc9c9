"""The web page in a real browser: Playwright driving Debian's /usr/bin/chromium headless.

Open the page, type a title, add two tracks from the search suggestions (one by mouse, one by
keyboard), see at least 10 continuations, click one and see the list refresh. Then take the
result back: copy it as URIs and as ids (read back from the clipboard), download it as JSON and
M3U, and show a second model beside it with the tracks in both lists marked. The screenshots are
saved to test-artifacts/serve-page.png and serve-page-compare.png.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from spotifier.serve import create_app
from spotifier.serve.search import tokenize
from spotifier.serve.testing import ServerThread, world_service

CHROMIUM = Path("/usr/bin/chromium")
#: The first is the default; the second is what the page compares it with.
MODELS = ("item-knn", "rp3beta")
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
    service = world_service(tmp_path_factory.mktemp("serve-browser"), MODELS)
    with ServerThread(create_app(service)) as server:
        yield service, server.url


@pytest.fixture(scope="module")
def page(served):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        context = browser.new_context(
            viewport={"width": 1280, "height": 900},
            permissions=["clipboard-read", "clipboard-write"],
            accept_downloads=True,
        )
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


def uris(page, selector: str) -> list[str]:
    return [li.get_attribute("data-uri") for li in page.locator(selector).all()]


def search_words(service, rank: int) -> str:
    """A query that finds the rank-th most popular track: its artist's first name word."""
    import numpy as np

    track = int(np.argsort(-service.popularity, kind="stable")[rank])
    return tokenize(service.describe(track)["artist"])[0]


def test_build_a_playlist_in_the_page(page, served):
    service, url = served
    page.goto(url + "/")
    page.wait_for_selector("#continuation li")  # the empty playlist gets popular tracks
    assert page.locator("#model option").count() == len(MODELS)

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


def start_a_playlist(page, service, url: str) -> None:
    """Open the page afresh, title it "road trip" and add the most popular track."""
    page.goto(url + "/")
    page.wait_for_selector("#continuation li")
    before = refreshes(page)
    page.fill("#title", "road trip")
    wait_for_refresh_after(page, before)
    page.fill("#search", search_words(service, 0))
    page.wait_for_selector("#suggestions li[role=option]")
    before = refreshes(page)
    page.press("#search", "Enter")
    wait_for_refresh_after(page, before)


def test_copy_and_download_the_continuation(page, served):
    service, url = served
    start_a_playlist(page, service, url)
    shown = uris(page, "#continuation li")
    seeds = uris(page, "#playlist li")
    assert len(shown) >= 10 and len(seeds) == 1

    page.click("#copy-uris")
    page.wait_for_function("document.querySelector('#result-note').textContent.includes('copied')")
    assert page.evaluate("navigator.clipboard.readText()").split() == shown
    page.click("#copy-ids")
    page.wait_for_function("document.querySelector('#result-note').textContent.includes('ids')")
    ids = page.evaluate("navigator.clipboard.readText()").split()
    assert ids == [uri.rsplit(":", 1)[-1] for uri in shown]
    assert all(uri.startswith("spotify:track:") for uri in shown)

    with page.expect_download() as info:
        page.click("#get-json")
    download = info.value
    assert download.suggested_filename == "road-trip.json"
    body = json.loads(Path(download.path()).read_text())
    assert [t["uri"] for t in body["tracks"]] == shown
    assert [t["id"] for t in body["tracks"]] == ids
    assert [t["position"] for t in body["tracks"]] == list(range(1, len(shown) + 1))
    assert body["name"] == "road trip" and body["seeds"] == seeds
    assert body["model"] == MODELS[0] and body["route"] == "model" and body["model_version"]
    names = [t["name"] for t in body["tracks"]]
    assert names == [n.strip() for n in page.locator("#continuation .track-name").all_inner_texts()]

    with page.expect_download() as info:
        page.click("#get-m3u")
    download = info.value
    assert download.suggested_filename == "road-trip.m3u"
    lines = Path(download.path()).read_text().splitlines()
    assert lines[:2] == ["#EXTM3U", "#PLAYLIST:road trip"]
    entries = lines[2:]
    assert entries[1::2] == shown
    first = body["tracks"][0]
    assert entries[0] == f"#EXTINF:-1,{first['artist']} - {first['name']}"
    assert all(line.startswith("#EXTINF:-1,") for line in entries[0::2])


def test_compare_two_models_with_the_overlap_marked(page, served):
    service, url = served
    start_a_playlist(page, service, url)
    assert page.is_hidden("#compare-panel")
    page.select_option("#compare", MODELS[1])
    page.wait_for_function("Number(document.querySelector('#other').dataset.refresh) > 0")
    page.wait_for_selector("#other[aria-busy=false]")
    assert page.is_visible("#compare-panel")
    assert page.inner_text("#other-h") == MODELS[1]

    first, second = uris(page, "#continuation li"), uris(page, "#other li")
    # The second list is exactly what the API gives that model for the same playlist.
    request = {"name": "road trip", "tracks": uris(page, "#playlist li"), "k": 50}
    for model, shown in zip(MODELS, (first, second), strict=True):
        answer = httpx.post(url + "/v1/continuations", json={**request, "model": model}).json()
        assert [item["uri"] for item in answer["items"]] == shown
    both = set(first) & set(second)
    assert both and both != set(first)  # the test world makes the marks mean something
    assert set(uris(page, "#continuation li.both")) == both
    assert set(uris(page, "#other li.both")) == both
    assert page.locator("#other li.both .both-badge").count() == len(both)
    assert page.get_attribute("#overlap", "data-shared") == str(len(both))
    assert f"{len(both)} of {len(second)}" in page.inner_text("#overlap")

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-page-compare.png"), full_page=False)

    # A new seed refreshes both lists, and the marks follow.
    before = refreshes(page)
    other_before = int(page.get_attribute("#other", "data-refresh") or 0)
    page.locator("#continuation li button").first.click()
    wait_for_refresh_after(page, before)
    page.wait_for_function(
        "n => Number(document.querySelector('#other').dataset.refresh) > n", arg=other_before
    )
    page.wait_for_selector("#other[aria-busy=false]")
    first, second = uris(page, "#continuation li"), uris(page, "#other li")
    assert set(uris(page, "#continuation li.both")) == set(first) & set(second)

    # "none" hides the second list and clears the marks.
    page.select_option("#compare", "")
    assert page.is_hidden("#compare-panel")
    assert page.locator("#continuation li.both").count() == 0
