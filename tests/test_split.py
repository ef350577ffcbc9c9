"""Splits: the ten challenge categories, hide-first, determinism, files, and no leakage."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotifier import store
from spotifier.data import Interactions
from spotifier.errors import InvalidInputError, NotFoundError
from spotifier.evaluation.testing import tiny_mpd
from spotifier.home import Home
from spotifier.mpd.challenge import read_challenge_set
from spotifier.split import (
    BY_NUMBER,
    CATEGORIES,
    build_split,
    category_of,
    challenge_cases,
    hide_first_plan,
    load_split,
    load_training_interactions,
    sample_challenge,
    training_interactions,
)


@pytest.fixture(scope="module")
def world():
    return tiny_mpd(600, seed=3)


@pytest.fixture
def home(tmp_path, monkeypatch, world):
    inter, catalog = world
    monkeypatch.setattr(store, "load_interactions", lambda home: inter)
    monkeypatch.setattr(store, "load_catalog", lambda home: catalog)
    monkeypatch.setattr(store, "load_playlist_ids", lambda home: inter.pids.astype(str))
    return Home(tmp_path)


def test_equal_counts_and_category_shapes(world):
    inter, _ = world
    cases = challenge_cases(inter, 50, seed=0)
    counts = Counter(c.category for c in cases)
    assert counts == {str(c.number): 5 for c in CATEGORIES}
    assert len({c.row for c in cases}) == 50  # each playlist held out once
    for case in cases:
        category = BY_NUMBER[int(case.category)]
        tracks = inter.playlist(case.row)
        assert len(case.query.seeds) == category.n_seeds
        assert case.query.num_tracks == len(tracks)
        assert (case.query.name is not None) == category.has_title
        positions = case.positions
        assert np.array_equal(case.query.seeds, tracks[positions])
        if category.random_positions:
            assert len(set(positions.tolist())) == len(positions)
            assert np.all(np.diff(positions) > 0)
            assert not np.array_equal(positions, np.arange(len(positions)))
        else:
            assert np.array_equal(positions, np.arange(category.n_seeds))
        # Truth: every other track of the playlist, once, never a seed.
        assert len(case.truth) > 0
        assert not set(case.truth.tolist()) & set(case.query.seeds.tolist())
        assert set(case.truth.tolist()) | set(case.query.seeds.tolist()) == set(tracks.tolist())
        assert len(set(case.truth.tolist())) == len(case.truth)
        # Its category can be told back from the entry alone.
        assert category_of(category.n_seeds, category.has_title, positions.tolist()) == (
            category.number
        )


def test_lengths_suit_each_category_when_the_data_allows(world):
    inter, _ = world
    lengths = inter.lengths()
    for case in challenge_cases(inter, 30, seed=1):
        category = BY_NUMBER[int(case.category)]
        assert category.min_length <= lengths[case.row] <= category.max_length


def test_deterministic_for_a_seed(world):
    inter, _ = world
    a, b, c = (challenge_cases(inter, 40, seed=s) for s in (5, 5, 6))
    key = [(x.row, x.category, x.query.seeds.tolist()) for x in a]
    assert key == [(x.row, x.category, x.query.seeds.tolist()) for x in b]
    assert key != [(x.row, x.category, x.query.seeds.tolist()) for x in c]


def test_training_never_sees_a_held_out_track(world):
    inter, _ = world
    cases = challenge_cases(inter, 60, seed=2)
    train = training_interactions(inter, cases)
    assert train.n_playlists == inter.n_playlists
    assert np.array_equal(train.pids, inter.pids)
    held = {c.row: c for c in cases}
    hidden_entries = 0
    for row in range(inter.n_playlists):
        seen = train.playlist(row)
        if row not in held:
            assert np.array_equal(seen, inter.playlist(row))
            assert train.titles[row] == inter.titles[row]
            continue
        case = held[row]
        # Only the seeds, in their original order; no held-out track anywhere in the row.
        assert np.array_equal(seen, case.query.seeds)
        assert not set(seen.tolist()) & set(case.truth.tolist())
        has_title = BY_NUMBER[int(case.category)].has_title
        assert train.titles[row] == (inter.titles[row] if has_title else "")
        hidden_entries += len(inter.playlist(row)) - len(seen)
    assert train.n_entries == inter.n_entries - hidden_entries


def test_build_save_load_round_trip(home, world):
    inter, catalog = world
    meta = build_split(home, "default", n_playlists=40, seed=0)
    assert meta["playlists"] == 40 and meta["protocol"] == "challenge"
    folder = home.split_dir("default")
    assert {p.name for p in folder.iterdir()} == {
        "challenge_set.json",
        "truth.json",
        "playlist_ids.json",
        "cases.npz",
        "meta.json",
    }
    loaded = load_split(home, "default")
    fresh = challenge_cases(inter, 40, seed=0)
    assert [c.pid for c in loaded.cases] == [c.pid for c in fresh]
    for a, b in zip(loaded.cases, fresh, strict=True):
        assert a.category == b.category and a.query.name == b.query.name
        assert np.array_equal(a.query.seeds, b.query.seeds)
        assert np.array_equal(a.positions, b.positions)
        assert np.array_equal(a.truth, b.truth)
    # The official files agree with the cases.
    challenge = read_challenge_set(folder / "challenge_set.json")
    truth = json.loads((folder / "truth.json").read_text())
    uris = catalog.track_uris
    for entry, case in zip(challenge.playlists, loaded.cases, strict=True):
        assert entry.pid == case.pid
        assert list(entry.seed_uris) == [uris[t] for t in case.query.seeds]
        assert list(entry.positions) == case.positions.tolist()
        assert entry.num_samples + entry.num_holdouts == entry.num_tracks
        assert truth[str(case.pid)] == [uris[t] for t in case.truth]
    # Training data from the files equals training data from the cases.
    train = load_training_interactions(home, "default")
    expected = training_interactions(inter, fresh)
    assert np.array_equal(train.indptr, expected.indptr)
    assert np.array_equal(train.tracks, expected.tracks)


def test_count_is_capped_at_ten_percent(home, capsys):
    meta = build_split(home, "capped", n_playlists=10_000, seed=0)
    assert meta["playlists"] == 60  # 10% of 600
    assert "instead of 10000" in capsys.readouterr().err


def test_bad_counts_and_missing_splits_are_clear_errors(home, world):
    inter, _ = world
    with pytest.raises(InvalidInputError, match="multiple of 10"):
        challenge_cases(inter, 45, seed=0)
    with pytest.raises(NotFoundError, match="spotifier split --name nope"):
        load_split(home, "nope")
    with pytest.raises(InvalidInputError, match="unknown protocol"):
        build_split(home, "x", protocol="leave-one-out")


def test_too_few_long_playlists_is_an_error_naming_the_category():
    lists = [list(range(i, i + 20)) for i in range(200)]
    short = Interactions.from_lists(lists, 400, titles=["mix"] * 200)
    with pytest.raises(InvalidInputError, match="category 9"):
        challenge_cases(short, 20, seed=0)


def test_sample_challenge_fills_what_it_can_without_strict():
    short = Interactions.from_lists([list(range(i, i + 20)) for i in range(30)], 100)
    cases = sample_challenge(short, np.arange(30), seed=0)
    counts = Counter(c.category for c in cases)
    # 20 tracks cannot hold 25 or 100 seeds and leave one to find.
    assert all(counts[str(n)] == 0 for n in range(7, 11))
    assert all(counts[str(n)] == 3 for n in range(1, 7))


def test_store_changed_since_the_split_is_detected(home, monkeypatch, world):
    build_split(home, "default", n_playlists=20, seed=0)
    inter, _ = world
    smaller = inter.subset(np.arange(inter.n_playlists - 1))
    monkeypatch.setattr(store, "load_interactions", lambda home: smaller)
    with pytest.raises(InvalidInputError, match="rebuild it"):
        load_training_interactions(home, "default")


def test_hide_first_protocol(home, world):
    inter, _ = world
    cases, rows = hide_first_plan(inter, 300, seed=4)
    assert len(rows) == 300 and len(set(rows.tolist())) == 300
    assert len(cases) == 30  # 10% test
    train = training_interactions(inter, cases, rows)
    assert train.n_playlists == 300
    position = {int(r): i for i, r in enumerate(rows)}
    for case in cases:
        tracks = inter.playlist(case.row)
        assert case.category == "hide-first"
        assert case.truth.tolist() == [tracks[0]]
        assert np.array_equal(case.query.seeds, tracks[1:])
        # The hidden first track is nowhere in that playlist's training row.
        assert tracks[0] not in train.playlist(position[case.row])
    meta = build_split(home, "hide-first", n_playlists=300, seed=4, protocol="hide-first")
    assert meta["sample"] == 300 and meta["protocol"] == "hide-first"
    loaded = load_training_interactions(home, "hide-first")
    assert np.array_equal(loaded.tracks, train.tracks)
    assert np.array_equal(loaded.pids, inter.pids[rows])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 40), min_size=1, max_size=130), min_size=10, max_size=40),
    st.integers(0, 1000),
)
def test_no_leak_on_any_world(playlists, seed):
    inter = Interactions.from_lists(playlists, 41, titles=["t"] * len(playlists))
    cases = sample_challenge(inter, np.arange(inter.n_playlists), seed)
    train = training_interactions(inter, cases)
    for case in cases:
        row = train.playlist(case.row)
        assert not set(row.tolist()) & set(case.truth.tolist())
        assert Counter(row.tolist()) == Counter(case.query.seeds.tolist())


def test_title_categories_take_titled_playlists_only_when_asked() -> None:
    from spotifier.data import Interactions
    from spotifier.split import CATEGORIES, sample_challenge

    lists = [list(range(i % 7, i % 7 + 30)) for i in range(200)]
    titles = ["" if i % 3 else f"mix {i}" for i in range(200)]
    inter = Interactions.from_lists(lists, 60, titles=titles)
    every = sample_challenge(inter, range(200), seed=1, per_category=5)
    titled = sample_challenge(inter, range(200), seed=1, per_category=5, titled_only=True)
    with_title = {str(c.number) for c in CATEGORIES if c.has_title}
    assert any(not c.query.name for c in every if c.category in with_title)
    assert all(c.query.name for c in titled if c.category in with_title)
    assert len(titled) == len(every) == 40  # 8 categories: none has 100 seeds to give
    only = sample_challenge(inter, range(200), 1, 5, categories=[CATEGORIES[3], CATEGORIES[5]])
    assert {c.category for c in only} == {"4", "6"} and len(only) == 10


def test_partly_titled_data_is_noted_and_split_from_titled_playlists() -> None:
    from spotifier.data import Interactions
    from spotifier.split import challenge_cases
    from spotifier.split.storage import challenge_plan

    lists = [list(range(i % 7, i % 7 + 30 + i % 200)) for i in range(400)]
    inter = Interactions.from_lists(lists, 240, titles=["" if i % 2 else "x" for i in range(400)])
    categories, titled_only, note = challenge_plan(inter)
    assert len(categories) == 10 and titled_only and note and "200 playlists" in note
    cases = challenge_cases(inter, 40, seed=0)
    assert all(c.query.name == "x" for c in cases if c.category not in ("4", "6"))
