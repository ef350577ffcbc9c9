"""The commands downstream of ingest on stores of own playlists, through the CLI runner:
absent fields are said to be absent (never 0), external ids show at the edges."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "data"))
sys.path.insert(0, str(Path(__file__).parent))
from own_fixtures import NAMES_ONLY_DROP, generated_home, own_store, playlist_id

from spotifier.store import compute_stats
from test_cli_evaluation import run


@pytest.fixture(scope="module")
def homes(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("own-cli")
    mpd = generated_home(root, n_playlists=400, seed=11)
    return {
        "mpd": mpd,
        "bare": own_store(mpd, root / "bare"),
        "names": own_store(mpd, root / "names", NAMES_ONLY_DROP, derived_ids=True),
    }


@pytest.fixture
def spotifier(capsys, monkeypatch) -> Callable[..., tuple[int, str, str]]:
    """Run `spotifier -q --home HOME ARGS` as the console script does: (exit, stdout, stderr)."""
    return lambda home, *args: run(capsys, monkeypatch, "-q", "--home", str(home), *args)


# --------------------------------------------------------------------------- stats
def test_stats_show_absent_fields_as_absent(homes, spotifier) -> None:
    full, bare = compute_stats(homes["mpd"]), compute_stats(homes["bare"])
    assert bare["fields"] == [] and list(full["absent"]) == ["playlists_with_tags"]  # MPD: no tags
    for key in ("playlists", "tracks", "unique_tracks", "avg_playlist_length"):
        assert bare[key] == full[key]
    for key in ("unique_albums", "unique_artists", "unique_titles", "collaborative"):
        assert bare[key] is None and isinstance(full[key], int)
    assert bare["absent"]["unique_titles"] == "no titles in this data"
    assert bare["top_titles"] is None and bare["top_artists"] is None
    assert bare["histograms"]["followers"] is None and bare["histograms"]["length"]
    top = bare["top_tracks"][0]
    assert top["uri"].startswith("wh-") and top["name"] is None and top["artist"] is None
    assert top["count"] == full["top_tracks"][0]["count"]


def test_names_only_stats(homes, spotifier) -> None:
    full, names = compute_stats(homes["mpd"]), compute_stats(homes["names"])
    assert names["unique_artists"] == full["unique_artists"]
    assert names["unique_albums"] is None
    assert [a["name"] for a in names["top_artists"]] == [a["name"] for a in full["top_artists"]]
    assert names["top_tracks"][0]["name"] == full["top_tracks"][0]["name"]


def test_stats_cli_json_uses_null_and_text_says_why(homes, spotifier) -> None:
    code, out, err = spotifier(homes["bare"], "stats", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["unique_titles"] is None and doc["histograms"]["edits"] is None
    code, out, err = spotifier(homes["bare"], "stats")
    assert code == 0, err
    line = next(row for row in out.splitlines() if "unique titles" in row)
    assert "—  (no titles in this data)" in line and " 0" not in line
    assert "no follower counts in this data" in out
    assert "wh-" in out  # tracks without names show their ids


# --------------------------------------------------------------------------- split
def test_split_without_titles_builds_the_other_categories(homes, spotifier) -> None:
    home = homes["bare"]
    code, out, err = spotifier(home, "split", "--playlists", "40", "--json")
    assert code == 0, err
    meta = json.loads(out)
    assert meta["categories"] == {"4": 20, "6": 20}
    assert sorted(meta["impossible_categories"], key=int) == [
        "1",
        "2",
        "3",
        "5",
        "7",
        "8",
        "9",
        "10",
    ]
    notes = [line for line in err.splitlines() if "no titles in this data" in line]
    assert len(notes) == 1 and "4 and 6" in notes[0]
    folder = home / "splits" / "default"
    challenge = json.loads((folder / "challenge_set.json").read_text())
    ids = json.loads((folder / "playlist_ids.json").read_text())
    truth = json.loads((folder / "truth.json").read_text())
    entry = challenge["playlists"][0]
    assert isinstance(entry["pid"], int) and "name" not in entry
    assert ids[str(entry["pid"])] == playlist_id(entry["pid"])
    seed = entry["tracks"][0]
    assert seed["track_uri"].startswith("wh-")
    assert seed["artist_name"] is None and seed["album_uri"] is None and seed["duration_ms"] is None
    assert set(ids) == set(truth) == {str(p["pid"]) for p in challenge["playlists"]}
    assert all(u.startswith("wh-") for uris in truth.values() for u in uris)


def test_hide_first_split_without_titles(homes, spotifier, tmp_path) -> None:
    code, out, err = spotifier(homes["bare"], "split", "--protocol", "hide-first", "--json")
    assert code == 0, err
    assert "no titles in this data" in err
    meta = json.loads(out)
    assert meta["notes"] and meta["playlists"] == 40


def test_split_on_mpd_data_has_all_ten_categories_and_pid_ids(homes, spotifier) -> None:
    code, out, err = spotifier(homes["mpd"], "split", "--playlists", "40", "--json")
    assert code == 0, err
    meta = json.loads(out)
    assert len(meta["categories"]) == 10 and "notes" not in meta
    ids = json.loads((homes["mpd"] / "splits" / "default" / "playlist_ids.json").read_text())
    assert all(key == value for key, value in ids.items())


# --------------------------------------------------------------------------- evaluate
def test_evaluate_without_artists_says_r_precision_is_track_only(homes, spotifier) -> None:
    home = homes["bare"]
    assert spotifier(home, "split", "--playlists", "40", "--name", "ev")[0] == 0
    code, out, err = spotifier(home, "evaluate", "popularity", "item-knn", "--split", "ev")
    assert code == 0, err
    assert "no artists in this data: R-precision is track-only (no artist credit)" in err
    code, out, err = spotifier(home, "evaluate", "item-knn", "--split", "ev", "--json")
    doc = json.loads(out)
    assert doc["artist_credit"] == "none" and doc["notes"]
    overall = doc["models"]["item-knn"]["overall"]
    assert overall["r_precision"] == overall["r_precision_track"]
    saved = json.loads((home / "results" / "ev" / "item-knn.json").read_text())
    row = saved["per_playlist"][0]
    assert row["playlist_id"] == playlist_id(row["pid"])


def test_evaluate_on_mpd_data_keeps_artist_credit(homes, spotifier) -> None:
    home = homes["mpd"]
    assert spotifier(home, "split", "--playlists", "40", "--name", "ev")[0] == 0
    code, out, err = spotifier(home, "evaluate", "popularity", "--split", "ev", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["artist_credit"] == "all" and "notes" not in doc
    assert "artist credit" not in err


# --------------------------------------------------------------------------- recommend
def test_recommend_by_artist_and_track_name(homes, spotifier) -> None:
    from spotifier import store

    home = homes["names"]
    catalog = store.load_catalog(home)
    track = 7
    artist, name = catalog.artist_name(track), str(catalog.track_names[track])
    typed = f"  {artist.upper()}   —  {name.lower()} "  # case and spaces do not matter
    code, out, err = spotifier(
        home, "recommend", "-m", "item-knn", "--track", typed, "-k", "5", "--json"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["resolved"] == {typed: catalog.track_uris[track]}
    assert doc["seeds"] == 1 and len(doc["tracks"]) == 5
    assert all(row["uri"] and row["artist"] for row in doc["tracks"])
    # "Artist - Track" with a plain hyphen works as well
    plain = f"{artist} - {name}"
    code, out, err = spotifier(home, "recommend", "-m", "item-knn", "--track", plain, "--json")
    assert code == 0, err and json.loads(out)["seeds"] == 1


def test_recommend_by_an_unknown_name_lists_close_matches(homes, spotifier) -> None:
    from spotifier import store

    home = homes["names"]
    catalog = store.load_catalog(home)
    artist, name = catalog.artist_name(3), str(catalog.track_names[3])
    code, out, err = spotifier(
        home, "recommend", "-m", "item-knn", "--track", f"{artist} — {name}x"
    )
    assert code != 0 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "no track is named" in lines[0] and "close matches" in lines[0]
    assert f"{artist} — {name}" in lines[0]


def test_recommend_on_a_bare_store_takes_ids_and_shows_them(homes, spotifier) -> None:
    home = homes["bare"]
    code, out, err = spotifier(home, "recommend", "-m", "item-knn", "--track", "wh-3", "-k", "5")
    assert code == 0, err
    assert "wh-" in out and "artist" not in out  # no names in this data: ids only
    code, out, err = spotifier(home, "recommend", "-m", "item-knn", "--track", "Abba — Waterloo")
    assert code != 0 and "no track and artist names" in err


# --------------------------------------------------------------------------- challenge, verify
def test_challenge_verify_and_score_are_mpd_only(homes, spotifier, tmp_path) -> None:
    home = homes["bare"]
    assert spotifier(home, "split", "--playlists", "40", "--name", "ch")[0] == 0
    challenge = home / "splits" / "ch" / "challenge_set.json"
    (tmp_path / "sub.csv").write_text("team_info,main,t,e@x.org\n")
    for args in (
        ("challenge", str(challenge), "--model", "popularity", "--out", str(tmp_path / "o.csv")),
        ("verify", str(challenge), str(tmp_path / "sub.csv")),
        ("score", str(tmp_path / "sub.csv"), "--split", "ch"),
    ):
        code, _, err = spotifier(home, *args)
        lines = err.strip().splitlines()
        assert code != 0 and len(lines) == 1, (args, err)
        assert "not Spotify URIs" in lines[0] and "spotifier evaluate" in lines[0]
    assert not (tmp_path / "o.csv").exists()
    # Without a store, the split's own challenge set says why it cannot be verified.
    code, _, err = spotifier(
        tmp_path / "no-home", "verify", str(challenge), str(tmp_path / "sub.csv")
    )
    assert code != 0 and "is not a Spotify URI" in err and "MPD-specific" in err


# --------------------------------------------------------------------------- report
def test_report_says_what_the_data_lacks(homes, spotifier, tmp_path) -> None:
    import html as html_lib

    home = homes["bare"]
    assert spotifier(home, "split", "--playlists", "40", "--name", "rep")[0] == 0
    assert spotifier(home, "evaluate", "popularity", "--split", "rep", "--no-oracle")[0] == 0
    code, _, err = spotifier(home, "report", "--out", str(tmp_path / "page"))
    assert code == 0, err
    page = html_lib.unescape((tmp_path / "page" / "index.html").read_text())
    for missing in (
        "unique titles</td><td>—  (no titles in this data)",
        "Collaborative playlists: no collaborative flags in this data",
        "followers: no follower counts in this data",
        "edits: no edit counts in this data",
        "playlist minutes: no durations in this data",
        "modified: no modification dates in this data",
        "top titles: no titles in this data",
        "top artists: no artists in this data",
        "Artists: no artists in this data: tracks only",
        "No followers study: no follower counts in this data",
    ):
        assert missing in page, missing
    images = {p.stem for p in (tmp_path / "page" / "img").glob("*.png")}
    assert {"length", "long_tail", "top_tracks"} <= images
    assert not {"followers", "edits", "modified", "top_titles"} & images
    assert "(no title)" in page and "user " in page  # examples: the playlist's own id
    assert "wh-" in page  # tracks without names: their ids
    assert "own playlists as tables" in page


def test_the_followers_study_names_what_the_data_lacks(homes, spotifier) -> None:
    code, _, err = spotifier(homes["bare"], "followers")
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1
    assert "no follower counts in this data" in lines[0] and "no edit counts" in lines[0]


# --------------------------------------------------------------------------- real tabular ingest
@pytest.mark.slow
def test_the_pipeline_on_tables_ingested_by_the_cli(spotifier, tmp_path) -> None:
    """A warehouse table (ids only) and a names-only CSV, through the real `ingest --map`."""
    import duckdb

    from spotifier.synth import generate

    generate(tmp_path / "gen", 300, 9, fmt="parquet")
    source = f"'{tmp_path / 'gen' / 'data'}/*.parquet'"
    bare, names = tmp_path / "bare.parquet", tmp_path / "names.csv"
    duckdb.sql(
        f"COPY (SELECT 'wh/' || playlist AS playlist_id, 'T' || hash(track) AS track_id, "
        f"position FROM {source}) TO '{bare}'"
    )
    duckdb.sql(
        f"COPY (SELECT 'u' || (CAST(playlist AS INT) % 9) AS user_id, artist_name AS artistname, "
        f"track_name AS trackname, 'pl ' || playlist AS playlistname FROM {source} "
        f"ORDER BY CAST(playlist AS INT), position) TO '{names}'"
    )
    maps = {
        "bare": [str(bare), "--map", "playlist=playlist_id", "--map", "track=track_id"],
        "names": [
            str(names),
            *("--map", "playlist=user_id,playlistname"),
            *("--map", "track_name=trackname", "--map", "artist_name=artistname"),
        ],
    }
    for kind, args in maps.items():
        home = tmp_path / kind
        assert spotifier(home, "ingest", *args)[0] == 0
        code, out, err = spotifier(home, "stats", "--json")
        stats = json.loads(out)
        assert stats["unique_titles"] is None and stats["unique_albums"] is None
        assert (stats["unique_artists"] is None) == (kind == "bare")
        code, out, err = spotifier(home, "split", "--playlists", "20", "--json")
        assert code == 0 and json.loads(out)["categories"] == {"4": 10, "6": 10}, err
        code, out, err = spotifier(home, "evaluate", "item-knn", "--json")
        assert code == 0, err
        assert json.loads(out)["artist_credit"] == ("none" if kind == "bare" else "all")
    catalog_name = json.loads(spotifier(tmp_path / "names", "stats", "--json")[1])["top_tracks"][0]
    typed = f"{catalog_name['artist']} — {catalog_name['name']}"
    code, out, err = spotifier(
        tmp_path / "names", "recommend", "-m", "item-knn", "--track", typed, "--json"
    )
    assert code == 0 and json.loads(out)["seeds"] == 1, err
