"""The README's three "Your own playlists" recipes, run as written on data shaped like each
source (made from a small generated world), through the real command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from spotifier.synth import generate

N_PLAYLISTS = 400


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("recipes")
    generate(root / "w", n_playlists=N_PLAYLISTS, seed=11, workers=1, fmt="parquet")
    return next((root / "w" / "data").glob("*.parquet"))


def _stats(spotifier: Callable[..., Any], home: Path) -> dict[str, object]:
    return json.loads(spotifier(home, "stats", "--json").stdout)


def test_recipe_1_a_warehouse_table_in_parquet(
    world: Path, tmp_path: Path, spotifier_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "exports" / "entries").mkdir(parents=True)
    duckdb.execute(
        f"""COPY (SELECT playlist AS playlist_id, track AS track_id, position,
                  title AS playlist_title, artist AS artist_id, album AS album_id, duration_ms
            FROM '{world}') TO '{tmp_path / "exports" / "entries" / "part-0.parquet"}'"""
    )
    monkeypatch.chdir(tmp_path)
    spotifier_cli(tmp_path / "wh", "ingest", "exports/entries/", "--map", "title=playlist_title")
    stats = _stats(spotifier_cli, tmp_path / "wh")
    assert stats["playlists"] == N_PLAYLISTS
    assert stats["unique_albums"] and stats["unique_artists"]


def test_recipe_2_a_names_only_csv(
    world: Path, tmp_path: Path, spotifier_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    duckdb.execute(
        f"""COPY (SELECT 'user' || (CAST(playlist AS INTEGER) % 37) AS user_id,
                  artist_name AS artistname, track_name AS trackname,
                  title || ' #' || playlist AS playlistname
            FROM '{world}' ORDER BY CAST(playlist AS INTEGER), position)
            TO '{tmp_path / "playlists.csv"}' (HEADER)"""
    )
    home = tmp_path / "np"
    monkeypatch.chdir(tmp_path)
    spotifier_cli(
        home, "ingest", "playlists.csv", "--map", "playlist=user_id,playlistname",
        "--map", "title=playlistname",
    )  # fmt: skip
    assert _stats(spotifier_cli, home)["playlists"] == N_PLAYLISTS
    first = duckdb.execute(
        f"SELECT artist_name, track_name FROM '{world}' "
        "ORDER BY CAST(playlist AS INTEGER), position"
    ).fetchone()
    assert first is not None
    track = f"{' '.join(first[0].lower().split())} — {' '.join(first[1].lower().split())}"
    out = spotifier_cli(
        home, "recommend", "--model", "item-knn", "--track", track, "-k", "10", "--json"
    )
    got = json.loads(out.stdout)
    assert len(got["tracks"]) == 10 and got["unknown_tracks"] == []


def test_recipe_3_wide_json_lines_with_a_list_column(
    world: Path, tmp_path: Path, spotifier_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    duckdb.execute(
        f"""COPY (SELECT CAST(playlist AS INTEGER) AS id, any_value(title) AS plylst_title,
                  string_split(lower(any_value(title)), ' ') AS tags,
                  list(abs(hash(track)) % 1000000 ORDER BY position) AS songs,
                  any_value(num_followers) AS like_cnt,
                  strftime(to_timestamp(any_value(modified_at)), '%Y-%m-%d %H:%M:%S.000')
                      AS updt_date
            FROM '{world}' GROUP BY playlist ORDER BY id)
            TO '{tmp_path / "train.jsonl"}' (FORMAT json)"""
    )
    home = tmp_path / "melon"
    monkeypatch.chdir(tmp_path)
    spotifier_cli(
        home, "ingest", "train.jsonl", "--map", "playlist=id", "--map", "tracks=songs",
        "--map", "num_followers=like_cnt", "--map", "modified_at=updt_date",
    )  # fmt: skip
    stats = _stats(spotifier_cli, home)
    assert stats["playlists"] == N_PLAYLISTS
    with duckdb.connect(str(home / "store.duckdb"), read_only=True) as con:
        row = con.execute(
            "SELECT count(*) FILTER (WHERE len(tags) > 0), count(modified_at) FROM playlists"
        ).fetchone()
    assert row == (N_PLAYLISTS, N_PLAYLISTS)
