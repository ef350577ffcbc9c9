"""Stores of own playlists (string ids, absent fields): `present_fields`, the catalogue and the
interactions cache."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent / "data"))
from own_fixtures import NAMES_ONLY_DROP, generated_home, own_store, playlist_id, version_1

from spotifier import store
from spotifier.data import TrainingData
from spotifier.store.fields import OPTIONAL_FIELDS, describe_absent, present_fields
from spotifier.store.names import normalize, split_name


@pytest.fixture(scope="module")
def homes(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("own")
    mpd = generated_home(root, n_playlists=200)
    return {
        "mpd": mpd,
        "bare": own_store(mpd, root / "bare"),
        "names": own_store(mpd, root / "names", NAMES_ONLY_DROP, derived_ids=True),
    }


def _fields(home: Path) -> frozenset[str]:
    with duckdb.connect(str(home / "store.duckdb"), read_only=True) as con:
        return present_fields(con)


def test_present_fields(homes) -> None:
    assert _fields(homes["mpd"]) == OPTIONAL_FIELDS - {"tags"}
    assert _fields(homes["bare"]) == frozenset()
    assert _fields(homes["names"]) == {"artist", "artist_name", "track_name"}


def test_blank_strings_and_empty_tags_are_absent(tmp_path) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE playlists (name VARCHAR, tags VARCHAR[], description VARCHAR)")
    con.execute("INSERT INTO playlists VALUES ('  ', [], NULL), (NULL, NULL, '')")
    assert present_fields(con) == frozenset()
    con.execute("INSERT INTO playlists VALUES ('x', ['a'], 'd')")
    assert present_fields(con) == {"title", "tags", "description"}


def test_absent_fields_read_as_sentences() -> None:
    assert describe_absent("artist") == "no artists in this data"
    assert describe_absent("spotify_uris") == "no Spotify track URIs in this data"


def test_a_bare_catalog_marks_what_is_unknown(homes) -> None:
    catalog = store.load_catalog(homes["bare"])
    assert catalog.fields == frozenset()
    assert (catalog.track_artist == -1).all() and (catalog.track_album == -1).all()
    assert (catalog.track_duration_ms == -1).all()
    assert set(catalog.track_names.tolist()) == {""}
    assert catalog.track_uris[0] == "wh-3"
    assert catalog.label(0) == "wh-3"
    assert catalog.describe([1]) == [{"uri": "wh-10", "name": "", "artist": "", "album": ""}]
    known, unknown = catalog.index_of(["wh-10", "spotify:track:x"])
    assert known.tolist() == [1] and unknown == ["spotify:track:x"]


def test_names_only_catalog(homes) -> None:
    catalog = store.load_catalog(homes["names"])
    mpd = store.load_catalog(homes["mpd"])
    assert (catalog.track_artist == mpd.track_artist).all()
    assert (catalog.track_album == -1).all()
    assert catalog.label(5) == mpd.label(5)  # "artist — name"
    assert catalog.describe([5])[0]["album"] == ""


def test_playlist_ids_and_titles(homes) -> None:
    inter = store.load_interactions(homes["bare"])
    ids = store.load_playlist_ids(homes["bare"])
    assert len(ids) == inter.n_playlists
    assert ids.tolist() == [playlist_id(int(p)) for p in inter.pids]
    assert set(inter.titles.tolist()) == {""}
    assert store.load_playlist_ids(homes["mpd"]).tolist()[:3] == ["0", "1", "2"]


def test_a_version_1_store_reads_read_only(homes, tmp_path) -> None:
    home = version_1(homes["mpd"], tmp_path / "v1")
    assert store.load_playlist_ids(home).tolist()[:3] == ["0", "1", "2"]
    assert store.load_catalog(home).fields == _fields(homes["mpd"])
    with duckdb.connect(str(home / "store.duckdb"), read_only=True) as con:
        assert "playlist_id" not in {r[0] for r in con.execute("DESCRIBE playlists").fetchall()}


def test_training_data_carries_the_fields(homes) -> None:
    inter = store.load_interactions(homes["names"])
    data = TrainingData.from_catalog(inter, store.load_catalog(homes["names"]))
    assert data.has("artist") and not data.has("title") and not data.has("album")
    full = TrainingData.from_catalog(
        store.load_interactions(homes["mpd"]), store.load_catalog(homes["mpd"])
    )
    assert {"title", "artist", "album"} <= full.fields


def test_the_cache_follows_the_store(homes, tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(homes["names"] / "store.duckdb", home / "store.duckdb")
    before = store.load_catalog(home)
    fingerprint = store.store_fingerprint(home)
    assert store.load_catalog(home).track_names[0] == before.track_names[0]  # from the cache
    changes = (
        "UPDATE meta SET value = 'mixed' WHERE key = 'source_kind'",  # a migration, a new kind
        "INSERT INTO slices VALUES ('more.csv', 'abc', 1, now())",  # a file committed
        "DELETE FROM entries WHERE pid = 0",  # rows undone
    )
    seen = {fingerprint}
    for change in changes:
        with duckdb.connect(str(home / "store.duckdb")) as con:
            con.execute(change)
        seen.add(store.store_fingerprint(home))
        store.load_catalog(home)
        assert len(list((home / "matrices").glob("catalog-*.npz"))) == 1  # stale ones removed
    assert len(seen) == len(changes) + 1


def test_gaps_in_artist_indices_stay_aligned(homes, tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(homes["mpd"] / "store.duckdb", home / "store.duckdb")
    with duckdb.connect(str(home / "store.duckdb")) as con:
        con.execute("UPDATE tracks SET artist_idx = NULL WHERE artist_idx = 1")
        con.execute("DELETE FROM artists WHERE artist_idx = 1")
    catalog = store.load_catalog(home)
    full = store.load_catalog(homes["mpd"])
    assert len(catalog.artist_names) == len(full.artist_names)
    assert catalog.artist_names[1] == "" and catalog.artist_names[2] == full.artist_names[2]
    lost = np.flatnonzero(full.track_artist == 1)
    assert (catalog.track_artist[lost] == -1).all()
    assert catalog.artist_name(int(lost[0])) == ""


_letters = st.characters(blacklist_categories=("Cs", "Z", "Cc"), blacklist_characters="-—–")
_name = st.lists(st.text(_letters, min_size=1, max_size=12), min_size=1, max_size=4).map(" ".join)


@given(_name, _name, st.sampled_from([" — ", "—", " – ", " - ", "  —  "]))
def test_every_artist_track_reading_is_found(artist, track, separator) -> None:
    assert (artist, track) in split_name(f" {artist}{separator}{track} ")


@given(st.text(max_size=40))
def test_normalize_is_idempotent_and_ignores_case_and_spacing(text) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert normalize(f"  {text.upper()}  ") == normalize(text.upper())
    assert "  " not in once and once == once.strip()
