"""`spotifier train` and `spotifier recommend` through the CLI runner, on a tiny ingested world."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from spotifier.cli import app

runner = CliRunner()


def _uri(kind: str, n: int) -> str:
    return f"spotify:{kind}:{n:022d}"


def _track(n: int, pos: int) -> dict:
    return {
        "pos": pos,
        "artist_name": f"Artist {n // 5}",
        "track_uri": _uri("track", n),
        "artist_uri": _uri("artist", n // 5),
        "track_name": f"Song {n}",
        "album_uri": _uri("album", n // 3),
        "duration_ms": 200_000 + n,
        "album_name": f"Album {n // 3}",
    }


def write_tiny_mpd(folder: Path) -> None:
    """The tiny world as an MPD slice: 'rock' playlists use tracks 0-9, 'chill' 10-19, all 20."""
    rng = np.random.default_rng(7)
    playlists = []
    for pid in range(1000):
        cluster = np.arange(0, 10) if pid % 2 == 0 else np.arange(10, 20)
        picks = [*rng.choice(cluster, size=int(rng.integers(5, 9)), replace=False).tolist(), 20]
        tracks = [_track(t, i) for i, t in enumerate(picks)]
        playlists.append(
            {
                "name": "rock" if pid % 2 == 0 else "chill",
                "collaborative": "false",
                "pid": pid,
                "modified_at": 1500000000,
                "num_tracks": len(tracks),
                "num_albums": len({t["album_uri"] for t in tracks}),
                "num_followers": 1,
                "tracks": tracks,
                "num_edits": 1,
                "duration_ms": sum(t["duration_ms"] for t in tracks),
                "num_artists": len({t["artist_uri"] for t in tracks}),
            }
        )
    data = {
        "info": {"generated_on": "2017-12-03 08:41:42.057563", "slice": "0-999", "version": "v1"},
        "playlists": playlists,
    }
    folder.mkdir(parents=True)
    (folder / "mpd.slice.0-999.json").write_text(json.dumps(data))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-models")
    write_tiny_mpd(root / "mpd")
    result = runner.invoke(app, ["--home", str(root / "home"), "ingest", str(root / "mpd")])
    assert result.exit_code == 0, result.output
    return root / "home"


def invoke(home: Path, *args: str):
    return runner.invoke(app, ["--home", str(home), "--quiet", *args])


def test_train_saves_model_with_meta(home: Path) -> None:
    result = invoke(home, "train", "item-knn", "--set", "neighbours=20")
    assert result.exit_code == 0, result.output
    assert "trained item-knn on 1,000 playlists" in result.output
    saved = home / "models" / "item-knn"
    assert {"config.json", "arrays.npz", "meta.json"} <= {p.name for p in saved.iterdir()}
    config = json.loads((saved / "config.json").read_text())
    assert config["config"]["neighbours"] == 20
    meta = json.loads((saved / "meta.json").read_text())
    assert meta["n_playlists"] == 1000 and meta["fit_seconds"] >= 0


def test_train_json_and_bad_setting(home: Path) -> None:
    result = invoke(home, "train", "playlist-knn", "--set", "neighbours=5", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["config"]["neighbours"] == 5
    bad = invoke(home, "train", "playlist-knn", "--set", "nope=1")
    assert bad.exit_code != 0
    assert "unknown setting 'nope'" in str(bad.exception or bad.output)


def test_recommend_json_continues_the_cluster(home: Path) -> None:
    seeds = [_uri("track", n) for n in (0, 1, 2)]
    unknown = _uri("track", 999_999)
    args = ["recommend", "--model", "playlist-knn", "-k", "5", "--json"]
    for uri in [*seeds, unknown]:
        args += ["--track", uri]
    result = invoke(home, *args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["unknown_tracks"] == [unknown]
    assert out["answered_by"] == "model"
    uris = [row["uri"] for row in out["tracks"]]
    assert len(uris) == 5 and not set(uris) & set(seeds)
    songs = [int(row["name"].split()[-1]) for row in out["tracks"]]
    assert sum(s < 10 for s in songs) >= 4
    assert all(
        {"rank", "name", "artist", "album", "score", "reason"} <= set(r) for r in out["tracks"]
    )


def test_recommend_title_only_uses_the_title_model(home: Path) -> None:
    result = invoke(
        home, "recommend", "--model", "item-knn", "--name", "Chill!", "-k", "6", "--json"
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["answered_by"] == "title"
    songs = [int(row["name"].split()[-1]) for row in out["tracks"]]
    assert sum(10 <= s < 20 for s in songs) >= 5
    assert (home / "models" / "title" / "meta.json").exists()  # trained on demand


def test_recommend_table(home: Path) -> None:
    result = invoke(home, "recommend", "-m", "item-knn", "--track", _uri("track", 12), "-k", "3")
    assert result.exit_code == 0, result.output
    assert "Song" in result.output and "Artist" in result.output and "rank" in result.output


def test_recommend_unknown_model_is_one_clear_error(home: Path) -> None:
    result = invoke(home, "recommend", "--model", "nope", "--name", "x")
    assert result.exit_code != 0
    assert "unknown model 'nope'" in str(result.exception)


def test_demo_rejects_unknown_models_before_doing_anything(tmp_path) -> None:
    from typer.testing import CliRunner

    from spotifier.cli import app

    home = tmp_path / "home"
    result = CliRunner().invoke(app, ["--home", str(home), "demo", "--models", "als,nope"])
    assert result.exit_code != 0
    assert "nope" in str(result.exception)
    assert not home.exists()
