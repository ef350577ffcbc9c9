"""The commands downstream of ingest on stores of own playlists, through the CLI runner:
absent fields are said to be absent (never 0), external ids show at the edges."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent / "data"))
from own_fixtures import NAMES_ONLY_DROP, generated_home, own_store, playlist_id

from spotifier.cli import app
from spotifier.store import compute_stats

runner = CliRunner()


@pytest.fixture(scope="module")
def homes(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("own-cli")
    mpd = generated_home(root, n_playlists=400, seed=11)
    return {
        "mpd": mpd,
        "bare": own_store(mpd, root / "bare"),
        "names": own_store(mpd, root / "names", NAMES_ONLY_DROP, derived_ids=True),
    }


def spotifier(home: Path, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `spotifier -q --home HOME ARGS`."""
    result = CliRunner().invoke(app, ["-q", "--home", str(home), *args])
    return result.exit_code, result.stdout, result.stderr


# --------------------------------------------------------------------------- stats
def test_stats_show_absent_fields_as_absent(homes) -> None:
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


def test_names_only_stats(homes) -> None:
    full, names = compute_stats(homes["mpd"]), compute_stats(homes["names"])
    assert names["unique_artists"] == full["unique_artists"]
    assert names["unique_albums"] is None
    assert [a["name"] for a in names["top_artists"]] == [a["name"] for a in full["top_artists"]]
    assert names["top_tracks"][0]["name"] == full["top_tracks"][0]["name"]


def test_stats_cli_json_uses_null_and_text_says_why(homes) -> None:
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
def test_split_without_titles_builds_the_other_categories(homes) -> None:
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


def test_hide_first_split_without_titles(homes, tmp_path) -> None:
    code, out, err = spotifier(homes["bare"], "split", "--protocol", "hide-first", "--json")
    assert code == 0, err
    assert "no titles in this data" in err
    meta = json.loads(out)
    assert meta["notes"] and meta["playlists"] == 40


def test_split_on_mpd_data_has_all_ten_categories_and_pid_ids(homes) -> None:
    code, out, err = spotifier(homes["mpd"], "split", "--playlists", "40", "--json")
    assert code == 0, err
    meta = json.loads(out)
    assert len(meta["categories"]) == 10 and "notes" not in meta
    ids = json.loads((homes["mpd"] / "splits" / "default" / "playlist_ids.json").read_text())
    assert all(key == value for key, value in ids.items())


# --------------------------------------------------------------------------- evaluate
def test_evaluate_without_artists_says_r_precision_is_track_only(homes) -> None:
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


def test_evaluate_on_mpd_data_keeps_artist_credit(homes) -> None:
    home = homes["mpd"]
    assert spotifier(home, "split", "--playlists", "40", "--name", "ev")[0] == 0
    code, out, err = spotifier(home, "evaluate", "popularity", "--split", "ev", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["artist_credit"] == "all" and "notes" not in doc
    assert "artist credit" not in err
