"""The service and its search on stores of own playlists: names where the data has them, ids
where it has not; unknown artists and albums are '' (never another track's)."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent / "data"))
from own_fixtures import NAMES_ONLY_DROP, generated_home, own_store

from spotifier.home import Home
from spotifier.serve import Service, create_app
from spotifier.serve.testing import ServerThread

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def services(tmp_path_factory) -> dict[str, Service]:
    root = tmp_path_factory.mktemp("own-serve")
    mpd = generated_home(root, n_playlists=300, seed=4)
    bare = own_store(mpd, root / "bare")
    names = own_store(mpd, root / "names", NAMES_ONLY_DROP, derived_ids=True)
    return {
        kind: Service.from_home(Home.resolve(home), ["item-knn"])
        for kind, home in (("bare", bare), ("names", names))
    }


def test_search_by_id_when_the_data_has_no_names(services) -> None:
    service = services["bare"]
    hits = service.search("wh-10", 50)["items"]
    assert hits and all(h["uri"].startswith("wh-10") for h in hits)
    assert any(h["uri"] == "wh-10" for h in hits)
    assert all(h["name"] == h["artist"] == h["album"] == "" for h in hits)
    assert service.search("wh", 5)["items"][0]["popularity"] == int(service.popularity.max())


def test_search_by_names_where_present(services) -> None:
    service = services["names"]
    catalog = service.catalog
    track = int(service.popularity.argmax())
    artist, name = catalog.artist_name(track), str(catalog.track_names[track])
    hits = service.search(f"{artist} {name}", 20)["items"]
    assert hits[0]["uri"] == catalog.track_uris[track]
    assert hits[0]["name"] == name and hits[0]["artist"] == artist and hits[0]["album"] == ""


def test_the_api_continues_and_describes_with_ids(services) -> None:
    service = services["bare"]
    seed = str(service.catalog.track_uris[int(service.popularity.argmax())])
    with (
        ServerThread(create_app(service)) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        found = http.get("/v1/tracks/search", params={"q": seed}).json()["items"]
        assert found[0]["uri"] == seed
        response = http.post("/v1/continuations", json={"tracks": [seed], "k": 10})
        assert response.status_code == 200, response.text
        items = response.json()["items"]
    assert len(items) == 10 and all(i["uri"].startswith("wh-") for i in items)
    assert all(i["artist"] == "" and i["album"] == "" for i in items)
