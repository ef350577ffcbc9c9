"""The synthetic MPD: official format rules, realistic shape at small N, determinism, the oracle."""

from __future__ import annotations

import importlib
import itertools
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from spotifier.cli import app
from spotifier.errors import InvalidInputError, NotFoundError
from spotifier.mpd.format import LATEST_MODIFIED_AT, PLAYLIST_FIELDS, TRACK_FIELDS, normalize_name
from spotifier.mpd.validate import ConsistencyChecker, validate_playlist
from spotifier.synth import Oracle, generate

N = 2100  # two full slices and a short one
URI = {k: re.compile(rf"^spotify:{k}:[0-9A-Za-z]{{22}}$") for k in ("track", "artist", "album")}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "world"
    generate(out, n_playlists=N, seed=3)
    return out


@pytest.fixture(scope="module")
def playlists(world: Path) -> list[dict]:
    out = []
    for path in sorted((world / "data").glob("mpd.slice.*.json")):
        out.extend(json.loads(path.read_bytes())["playlists"])
    return out


def test_slices_follow_the_official_rules(world: Path, playlists: list[dict]) -> None:
    files = sorted(p.name for p in (world / "data").iterdir())
    assert files == ["mpd.slice.0-999.json", "mpd.slice.1000-1999.json", "mpd.slice.2000-2099.json"]
    checker = ConsistencyChecker()
    for p in playlists:
        assert validate_playlist(p, "slice") == []
        assert checker.check(p, "slice") == []
    # the same rules, checked here directly so this test does not rest on the validator alone
    assert [p["pid"] for p in playlists] == list(range(N))
    names: dict[str, str] = {}
    for p in playlists:
        assert [k for k in p if k != "description"] == list(PLAYLIST_FIELDS)
        assert p["collaborative"] in ("true", "false") and p["name"]
        tracks = p["tracks"]
        assert 5 <= len(tracks) == p["num_tracks"] <= 250
        assert [t["pos"] for t in tracks] == list(range(len(tracks)))
        assert all(list(t) == list(TRACK_FIELDS) for t in tracks)
        assert p["num_albums"] == len({t["album_uri"] for t in tracks}) >= 2
        assert p["num_artists"] == len({t["artist_uri"] for t in tracks}) >= 3
        assert p["duration_ms"] == sum(t["duration_ms"] for t in tracks)
        assert p["num_followers"] >= 1 and p["num_edits"] >= 1
        assert (
            p["modified_at"] % 86400 == 0 and 1262304000 <= p["modified_at"] <= LATEST_MODIFIED_AT
        )
        for t in tracks:
            for kind in ("track", "artist", "album"):
                assert URI[kind].match(t[f"{kind}_uri"])
                assert names.setdefault(t[f"{kind}_uri"], t[f"{kind}_name"]) == t[f"{kind}_name"]


def test_bytes_are_the_published_layout(world: Path) -> None:
    raw = (
        world / "data" / "mpd.slice.2000-2099.json"
    ).read_bytes()  # the short one: stdlib is slow
    assert raw == json.dumps(json.loads(raw), indent=4, ensure_ascii=True).encode("ascii")
    assert rb"\u00" in raw  # accented names exercise the escaping
    info = json.loads(raw)["info"]
    assert list(info) == ["generated_on", "slice", "version"]
    assert info["slice"] == "2000-2099" and info["version"] == "v1"


def test_playlist_shape_resembles_the_mpd(playlists: list[dict]) -> None:
    lengths = np.array([p["num_tracks"] for p in playlists])
    assert 62 <= lengths.mean() <= 70
    # the most common length (in bins of 5, to tame noise at N=2000) is short: 10-34
    hist = np.bincount(lengths // 5)
    assert 2 <= hist.argmax() <= 6
    followers = Counter(p["num_followers"] for p in playlists)
    assert 0.68 <= followers[1] / N <= 0.82
    assert 0.09 <= followers[2] / N <= 0.21
    assert max(followers) >= 10  # a power-law tail
    edits = Counter(p["num_edits"] for p in playlists)
    assert edits.most_common(1)[0][0] in (2, 3)
    repeats = sum(len({t["track_uri"] for t in p["tracks"]}) < p["num_tracks"] for p in playlists)
    assert 0.22 <= repeats / N <= 0.45
    assert 0.007 <= sum("description" in p for p in playlists) / N <= 0.035
    assert 0.007 <= sum(p["collaborative"] == "true" for p in playlists) / N <= 0.04
    years = Counter(1970 + p["modified_at"] // (365.25 * 86400) for p in playlists)
    assert years[2017] > years[2016] > years[2014]  # skewed late
    titles = Counter(normalize_name(p["name"]) for p in playlists)
    top = {t for t, _ in titles.most_common(20)}
    assert len(top & {"country", "chill", "rap", "workout", "oldies", "christmas", "rock"}) >= 5


def test_titles_carry_signal(playlists: list[dict]) -> None:
    tracks = [frozenset(t["track_uri"] for t in p["tracks"]) for p in playlists]
    by_title: dict[str, list[int]] = {}
    for i, p in enumerate(playlists):
        by_title.setdefault(normalize_name(p["name"]), []).append(i)

    def jaccard(i: int, j: int) -> float:
        return len(tracks[i] & tracks[j]) / len(tracks[i] | tracks[j])

    same = [
        jaccard(i, j)
        for rows in by_title.values()
        if len(rows) >= 5
        for i, j in itertools.islice(itertools.combinations(rows, 2), 60)
    ]
    rng = np.random.default_rng(0)
    random_pairs = [jaccard(int(i), int(j)) for i, j in rng.integers(0, N, (2000, 2)) if i != j]
    assert len(same) > 200
    assert np.mean(same) > 3 * np.mean(random_pairs)


def test_same_seed_same_bytes_whatever_the_workers(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", n_playlists=1100, seed=11, workers=1)
    generate(tmp_path / "b", n_playlists=1100, seed=11, workers=2)
    c = generate(tmp_path / "c", n_playlists=1100, seed=12, workers=1)
    files = sorted(p.name for p in (tmp_path / "a" / "data").iterdir())
    assert files == ["mpd.slice.0-999.json", "mpd.slice.1000-1099.json"]
    for name in files:
        same = (tmp_path / "a" / "data" / name).read_bytes()
        assert same == (tmp_path / "b" / "data" / name).read_bytes()
        assert same != (tmp_path / "c" / "data" / name).read_bytes()
    for name in ("catalog.npz", "playlists.npz"):
        with (
            np.load(tmp_path / "a" / "truth" / name) as x,
            np.load(tmp_path / "b" / "truth" / name) as y,
        ):
            assert x.files == y.files
            for key in x.files:
                np.testing.assert_array_equal(x[key], y[key])
    assert a.entries > 0 and a.unique_tracks > 0 and c.entries != a.entries


def test_oracle_ranks_held_out_tracks_far_above_popularity(
    world: Path, playlists: list[dict]
) -> None:
    oracle = Oracle.load(world / "truth")
    counts = Counter(t["track_uri"] for p in playlists for t in p["tracks"])
    popular = [uri for uri, _ in counts.most_common(700)]
    oracle_recall, popular_recall = [], []
    sample = playlists[:: N // 150]
    ranked = oracle.rank_many(
        [p["pid"] for p in sample], 500, [[t["track_uri"] for t in p["tracks"][:5]] for p in sample]
    )
    for p, ranking in zip(sample, ranked, strict=True):
        uris = [t["track_uri"] for t in p["tracks"]]
        seeds, held = set(uris[:5]), set(uris[5:]) - set(uris[:5])
        assert len(ranking) == 500 == len(set(ranking)) and not seeds & set(ranking)
        if held:
            oracle_recall.append(len(held & set(ranking)) / len(held))
            baseline = [u for u in popular if u not in seeds][:500]
            popular_recall.append(len(held & set(baseline)) / len(held))
    assert np.mean(oracle_recall) > 0.3
    assert np.mean(oracle_recall) > 2.5 * np.mean(popular_recall)
    # rank_indices agrees with brute force over the whole catalog
    pid = sample[3]["pid"]
    every = np.arange(oracle.catalog.n_tracks)
    brute = every[np.lexsort((every, -oracle.scores(pid, every)))][:50]
    np.testing.assert_array_equal(oracle.rank_indices(pid, 50), brute)


def test_oracle_refuses_unknown_playlists_and_folders(world: Path, tmp_path: Path) -> None:
    oracle = Oracle.load(world / "truth")
    with pytest.raises(NotFoundError, match="12345678"):
        oracle.rank(12345678, 10)
    with pytest.raises(NotFoundError, match=r"catalog\.npz"):
        Oracle.load(tmp_path)


def test_generate_refuses_a_non_empty_folder_and_leaves_no_half_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="not empty"):
        generate(out, n_playlists=20, seed=0)
    with pytest.raises(InvalidInputError, match="playlists"):
        generate(tmp_path / "x", n_playlists=0)

    module = importlib.import_module("spotifier.synth.generate")

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "sample_slice", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate(out, n_playlists=20, seed=0, force=True, workers=1)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_cli_generate(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "w"
    result = runner.invoke(app, ["-q", "generate", str(out), "--playlists", "30", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["playlists"] == 30 and report["unique_tracks"] > 0
    assert [p.name for p in (out / "data").iterdir()] == ["mpd.slice.0-29.json"]
    again = runner.invoke(app, ["generate", str(out), "--playlists", "30"])
    assert again.exit_code != 0 and "--force" in str(again.exception)
    forced = runner.invoke(app, ["generate", str(out), "-n", "30", "--gzip", "--force"])
    assert forced.exit_code == 0, forced.output
    assert [p.name for p in (out / "data").iterdir()] == ["mpd.slice.0-29.json.gz"]
