"""The challenge metrics: a hand-computed table, every edge case, and Hypothesis bounds."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spotifier.metrics import (
    UNKNOWN_ARTIST,
    aggregate,
    clicks,
    hit_at,
    mean_rows,
    ndcg,
    r_precision,
    recall_at,
    score_playlist,
)

L2_3 = math.log2(3)

# (recommended, relevant, r_precision track-only, ndcg, clicks), each computed by hand from MPD.md.
HAND_TABLE = [
    # Perfect list.
    (["a", "b", "c"], ["a", "b", "c"], 1.0, 1.0, 0),
    # One hit at rank 1 of |G|=2: R-prec 1/2; DCG 1, IDCG 1 + 1/log2(2) = 2.
    (["a", "x", "y"], ["a", "b"], 0.5, 0.5, 0),
    # The hit at rank 3 is outside R[1..2]: R-prec 0; DCG 1/log2(3), IDCG 2.
    (["x", "y", "a"], ["a", "b"], 0.0, (1 / L2_3) / 2, 0),
    # Rank 2 counts as fully as rank 1 in the challenge's DCG (rel_i / log2(i), i ≥ 2).
    (["x", "a"], ["a"], 0.0, 1.0, 0),
    # First hit at rank 11: clicks 1; DCG 1/log2(11), IDCG 1 (|G| = 1).
    ([f"x{i}" for i in range(10)] + ["a"], ["a"], 0.0, 1 / math.log2(11), 1),
    # First hit at rank 10 is still the first page: clicks 0.
    ([f"x{i}" for i in range(9)] + ["a"], ["a"], 0.0, 1 / math.log2(10), 0),
    # No hit at all.
    (["x", "y"], ["a"], 0.0, 0.0, 51),
    # Empty list: IDCG over min(|G|, |R|) = 0 hits, NDCG 0, clicks 51.
    ([], ["a", "b"], 0.0, 0.0, 51),
    # Repeats in the truth count once (|G| = 2).
    (["a", "b"], ["a", "a", "b"], 1.0, 1.0, 0),
    # Integers work as ids too; IDCG uses min(|G|, |R|) = 2.
    ([1, 9], [1, 2, 3], 1 / 3, 1 / 2, 0),
]


@pytest.mark.parametrize(
    ("recommended", "relevant", "rprec", "expected_ndcg", "expected_clicks"), HAND_TABLE
)
def test_hand_computed_table(recommended, relevant, rprec, expected_ndcg, expected_clicks):
    assert r_precision(recommended, relevant) == pytest.approx(rprec)
    assert ndcg(recommended, relevant) == pytest.approx(expected_ndcg)
    assert clicks(recommended, relevant) == expected_clicks


def test_artist_credit_is_a_quarter_once_per_artist():
    artist = {"a": "A", "b": "B", "c": "C", "x1": "B", "x2": "B", "y": "Z"}
    # |G| = 3; top 3 = a (hit), x1 (non-hit by B), x2 (non-hit by B): B credited once.
    assert r_precision(["a", "x1", "x2"], ["a", "b", "c"], artist) == pytest.approx(1.25 / 3)
    # A non-hit by an artist not in G earns nothing.
    assert r_precision(["a", "y", "q"], ["a", "b", "c"], {**artist, "q": "Q"}) == pytest.approx(
        1 / 3
    )
    # Credit only inside R[1..|G|]: x1 at rank 4 is outside.
    assert r_precision(["a", "y", "y2", "x1"], ["a", "b", "c"], {**artist, "y2": "Z"}) == (
        pytest.approx(1 / 3)
    )
    # A hit's own artist is not credited again for the hit itself.
    assert r_precision(["b"], ["b"], artist) == 1.0
    # Without the mapping, the track-only value.
    assert r_precision(["a", "x1", "x2"], ["a", "b", "c"]) == pytest.approx(1 / 3)


def test_hit_and_recall_at_k():
    assert hit_at(["x", "y", "a"], ["a"], 2) == 0.0
    assert hit_at(["x", "y", "a"], ["a"], 3) == 1.0
    assert hit_at([], ["a"], 100) == 0.0
    assert recall_at(["a", "b", "x"], ["a", "b", "c", "d"], 3) == 0.5
    assert recall_at(["a", "b", "x"], ["a", "b", "c", "d"], 1) == 0.25


@pytest.mark.parametrize("metric", [r_precision, ndcg, clicks])
def test_empty_truth_is_an_error(metric):
    with pytest.raises(ValueError, match="relevant is empty"):
        metric(["a"], [])


def test_hit_and_recall_empty_truth_is_an_error():
    with pytest.raises(ValueError):
        hit_at(["a"], set(), 1)
    with pytest.raises(ValueError):
        recall_at(["a"], set(), 1)


ids = st.integers(min_value=0, max_value=60)


@given(st.lists(ids, min_size=1, max_size=40, unique=True), st.integers(0, 30))
def test_perfect_list_scores_one(relevant, extra):
    tail = [1000 + i for i in range(extra)]
    recommended = list(relevant) + tail
    assert r_precision(recommended, relevant) == 1.0
    assert r_precision(recommended, relevant, {t: t % 3 for t in recommended}) == 1.0
    assert ndcg(recommended, relevant) == pytest.approx(1.0)
    assert clicks(recommended, relevant) == 0
    assert hit_at(recommended, relevant, 1) == 1.0
    assert recall_at(recommended, relevant, len(relevant)) == 1.0


@given(st.lists(ids, min_size=1, max_size=40))
def test_empty_list_scores_worst(relevant):
    assert clicks([], relevant) == 51
    assert ndcg([], relevant) == 0.0
    assert r_precision([], relevant) == 0.0


@given(
    st.lists(ids, max_size=80, unique=True),
    st.lists(ids, min_size=1, max_size=40),
    st.integers(1, 5),
)
def test_bounds(recommended, relevant, n_artists):
    artist = {t: t % n_artists for t in range(61)}
    rp = r_precision(recommended, relevant, artist)
    track_only = r_precision(recommended, relevant)
    assert 0.0 <= track_only <= rp <= 1.0
    assert 0.0 <= ndcg(recommended, relevant) <= 1.0 + 1e-12
    c = clicks(recommended, relevant)
    assert c == 51 or 0 <= c <= (len(recommended) - 1) // 10
    assert 0.0 <= recall_at(recommended, relevant, 10) <= hit_at(recommended, relevant, 10)


@given(
    st.lists(ids, max_size=80, unique=True),
    st.lists(ids, min_size=1, max_size=40),
    st.integers(1, 5),
    st.sets(ids),
)
def test_artist_credit_only_where_artists_are_known(recommended, relevant, n_artists, unknown):
    known = {t: t % n_artists for t in range(61)}
    partly = {t: (UNKNOWN_ARTIST if t in unknown else a) for t, a in known.items()}
    nobody = dict.fromkeys(known, UNKNOWN_ARTIST)
    track_only = r_precision(recommended, relevant)
    # Forgetting artists never adds credit; with none known the score is the track-only one.
    assert track_only <= r_precision(recommended, relevant, partly)
    assert r_precision(recommended, relevant, partly) <= r_precision(recommended, relevant, known)
    assert r_precision(recommended, relevant, nobody) == track_only
    assert r_precision(recommended, relevant, dict.fromkeys(known)) == track_only  # None too


def test_unknown_artists_are_not_one_shared_artist():
    # Two tracks of unknown artist are not "by the same artist": no credit for x.
    assert r_precision(["x", "a"], {"a", "b"}, {"a": 0, "b": -1, "x": -1}) == 0.5
    assert r_precision(["x", "a"], {"a", "b"}, {"a": 0, "b": 5, "x": 5}) == 0.625


@given(st.lists(ids, min_size=2, max_size=30, unique=True))
def test_moving_a_hit_down_never_raises_ndcg(recommended):
    relevant = [recommended[0]]
    moved = recommended[1:] + recommended[:1]
    assert ndcg(moved, relevant) <= ndcg(recommended, relevant)
    assert clicks(moved, relevant) >= clicks(recommended, relevant)


def test_score_playlist_and_aggregate():
    a = {"category": "1", **score_playlist(["a", "b"], ["a"], artist_of=None)}
    b = {"category": "2", **score_playlist(["x", "y"], ["a"], artist_of=None)}
    assert a["r_precision"] == a["r_precision_track"] == 1.0
    assert b["clicks"] == 51.0 and b["hit_at_100"] == 0.0
    overall, per = aggregate([a, b])
    assert overall["playlists"] == 2
    assert overall["ndcg"] == pytest.approx(0.5)
    assert overall["clicks"] == pytest.approx(25.5)
    assert list(per) == ["1", "2"]
    assert per["2"]["r_precision"] == 0.0


def test_aggregate_orders_categories_numerically():
    rows = [{"category": c, "ndcg": 1.0} for c in ("10", "2", "hide-first", "1")]
    _, per = aggregate(rows, keys=["ndcg"])
    assert list(per) == ["1", "2", "10", "hide-first"]
    assert mean_rows([], keys=["ndcg"]) == {"ndcg": None, "playlists": 0}
