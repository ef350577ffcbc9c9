"""Model-specific right answers for the classical models (the contract suite covers the rest)."""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from spotifier.data import Interactions, Query, TrainingData
from spotifier.models import create
from spotifier.models.als import ALS, ALSConfig
from spotifier.models.ease import EASE, EASEConfig
from spotifier.models.playlist_knn import PlaylistKNN, PlaylistKNNConfig
from spotifier.models.seed_baseline import SeedBaseline, SeedBaselineConfig, dice
from spotifier.models.similarity import blocked_neighbours, top_k_per_row


def world(
    playlists: list[list[int]], n_tracks: int, titles: list[str] | None = None
) -> TrainingData:
    inter = Interactions.from_lists(playlists, n_tracks=n_tracks, titles=titles)
    zeros = np.zeros(n_tracks, dtype=np.int32)
    return TrainingData(inter, zeros, zeros)


def pair_world() -> TrainingData:
    """Tracks 2j and 2j+1 always appear together; track 12 is in 9 playlists of 10."""
    rng = np.random.default_rng(3)
    playlists = []
    for i in range(80):
        pairs = rng.choice(6, size=3, replace=False)
        playlists.append([t for p in pairs for t in (2 * p, 2 * p + 1)] + ([12] if i % 10 else []))
    return world(playlists, 13)


# ------------------------------------------------------------------ seed-baseline
def test_dice_is_multiset_overlap() -> None:
    assert dice(Counter([1, 1, 2]), 3, Counter([1, 1, 1]), 3) == pytest.approx(4 / 6)
    assert dice(Counter([1]), 1, Counter([2]), 1) == 0.0


def test_seed_baseline_pools_exactly_the_top_neighbours() -> None:
    # Query [0, 1]: playlists 0-4 overlap it, 5-6 do not; with 3 neighbours the pool is rows 0-2.
    playlists = [[0, 1, 2], [0, 1, 3], [0, 4], [1, 5, 6, 7, 8], [0, 9, 9, 9], [10, 11], [11]]
    model = SeedBaseline(SeedBaselineConfig(neighbours=3)).fit(world(playlists, 12))
    assert model.neighbours(Query(seeds=[0, 1])) == [0, 1, 2]
    recs = model.recommend([Query(seeds=[0, 1])], k=10)
    items, scores = recs.row(0)
    scored = items[~np.isnan(scores)]
    assert set(scored.tolist()) == {2, 3, 4}
    assert len(items) == 10 and np.isnan(scores[3:]).all()  # the rest is back-fill


def test_seed_baseline_multiset_pool_favours_shared_tracks() -> None:
    # Track 9 is in all 5 neighbours, each other candidate in one: 9 should come first most often.
    playlists = [[0, 9, 10 + i] for i in range(5)] + [[50, 51]] * 3
    first = Counter()
    for seed in range(200):
        model = SeedBaseline(SeedBaselineConfig(seed=seed)).fit(world(playlists, 60))
        items, _ = model.recommend([Query(seeds=[0])], k=3).row(0)
        first[int(items[0])] += 1
    # 5 of the 10 pooled copies are track 9: first half the time (1/6 if the pool were a set)
    assert first[9] > 200 * 0.38


def test_seed_baseline_shuffle_depends_on_seed_only() -> None:
    playlists = [[0, *range(1 + 10 * i, 11 + 10 * i)] for i in range(5)]
    data = world(playlists, 60)
    runs = {
        seed: SeedBaseline(SeedBaselineConfig(seed=seed))
        .fit(data)
        .recommend([Query(seeds=[0])], 50)
        for seed in (0, 0, 1)
    }
    orders = [tuple(r.items[0].tolist()) for r in runs.values()]
    assert len(set(orders)) == 2  # seed 0 twice gives one order; seed 1 another
    assert SeedBaseline.max_eval_queries == 500


# ------------------------------------------------------------------ playlist-knn
def test_playlist_knn_scores_are_weighted_neighbour_votes() -> None:
    playlists = [[0, 1, 2], [0, 3], [4, 5]]
    model = PlaylistKNN(PlaylistKNNConfig(neighbours=5, alpha=0.5, power=1.0)).fit(
        world(playlists, 6)
    )
    items, scores = model.recommend([Query(seeds=[0])], k=3).row(0)
    # cosine(q=[0], p0) = 1/sqrt(3) votes for 1, 2; cosine(q, p1) = 1/sqrt(2) votes for 3.
    assert items.tolist()[:3] == [3, 1, 2]
    np.testing.assert_allclose(
        scores[:3], [1 / np.sqrt(2), 1 / np.sqrt(3), 1 / np.sqrt(3)], rtol=1e-5
    )


def test_playlist_knn_keeps_only_k_neighbours() -> None:
    playlists = [[0, 1], [0, 2, 9], [0, 3, 9, 8]]
    model = PlaylistKNN(PlaylistKNNConfig(neighbours=1)).fit(world(playlists, 10))
    items, scores = model.recommend([Query(seeds=[0])], k=4).row(0)
    assert items[0] == 1 and np.isnan(scores[1:]).all()  # only the closest playlist votes


# ------------------------------------------------------------------ item models
@pytest.mark.parametrize("name", ["item-knn", "rp3beta", "ease", "playlist-knn"])
def test_item_models_find_the_partner_track(name: str) -> None:
    model = create(name).fit(pair_world())
    for j in range(6):
        items, _ = model.recommend([Query(seeds=[2 * j])], k=1).row(0)
        assert items[0] == 2 * j + 1, f"{name}: partner of {2 * j}"


@pytest.mark.parametrize(("name", "knob"), [("item-knn", "damping"), ("rp3beta", "beta")])
def test_popularity_damping_pushes_the_ubiquitous_track_down(name: str, knob: str) -> None:
    data = pair_world()

    def rank_of_popular(value: float) -> int:
        items, _ = (
            create(name, [f"{knob}={value}"]).fit(data).recommend([Query(seeds=[0, 1])], 11).row(0)
        )
        return int(np.flatnonzero(items == 12)[0])

    assert rank_of_popular(0.0) == 0
    assert rank_of_popular(2.0) > 3


def test_item_knn_bm25_runs_and_differs_from_cosine() -> None:
    rng = np.random.default_rng(1)
    lists = [rng.choice(12, size=int(rng.integers(2, 12)), replace=False) for _ in range(60)]
    data = world([p.tolist() for p in lists], 12)
    cos = create("item-knn").fit(data)
    bm25 = create("item-knn", ["similarity=bm25"]).fit(data)
    assert not np.allclose(cos.similarity.toarray(), bm25.similarity.toarray())


def test_ease_matches_the_closed_form() -> None:
    data = pair_world()
    model = EASE(EASEConfig(n_items=100, l2=5.0)).fit(data)
    x = data.interactions.binary.toarray().astype(np.float64)
    p = np.linalg.inv(x.T @ x + 5.0 * np.eye(13))
    b = -p / np.diag(p)
    np.fill_diagonal(b, 0.0)
    np.testing.assert_allclose(model.weights, b, atol=1e-4)


def test_ease_vocabulary_limits_what_it_scores() -> None:
    data = pair_world()
    model = EASE(EASEConfig(n_items=4)).fit(data)
    assert len(model.vocabulary) == 4 and 12 in model.vocabulary
    items, scores = model.recommend([Query(seeds=[int(model.vocabulary[0])])], k=12).row(0)
    scored = items[~np.isnan(scores)]
    assert set(scored.tolist()) <= set(model.vocabulary.tolist())
    assert len(items) == 12  # the rest is popularity back-fill


def test_als_fold_in_equals_implicit_recalculate_user() -> None:
    from implicit.cpu.als import AlternatingLeastSquares

    from spotifier.progress import blas_threads

    data = pair_world()
    cfg = ALSConfig(factors=6, regularization=0.1, alpha=5.0, iterations=5)
    ours = ALS(cfg).fit(data)
    with blas_threads(1):
        ref = AlternatingLeastSquares(
            factors=6, regularization=0.1, alpha=5.0, iterations=5, random_state=0
        )
        ref.fit(data.interactions.binary, show_progress=False)
    np.testing.assert_allclose(ours.item_factors, ref.item_factors, rtol=1e-4, atol=1e-5)
    row = data.interactions.binary[3]
    expected = ref.recalculate_user(3, row)
    got = ours.playlist_factor(Query(seeds=row.indices))
    np.testing.assert_allclose(got, np.ravel(expected), rtol=1e-3, atol=1e-4)


@settings(max_examples=40, deadline=None)
@given(
    seeds=st.lists(st.integers(-2, 40), max_size=6),
    pairs=st.lists(st.integers(-3, 44), min_size=1, max_size=30),
)
def test_als_pair_scores_are_its_block_scores_wherever_the_block_has_one(seeds, pairs) -> None:
    """`score_pairs` gives each chosen track the score `score` gives it (the block of every
    track, `max_candidates` above the catalogue), NaN for unknown, rarely seen or unscorable."""
    model = _als_all()
    queries = [Query(seeds=np.array(seeds, dtype=np.int64)), Query(seeds=np.array([1, 2]))]
    rows = np.arange(len(pairs)) % 2
    items = np.array(pairs, dtype=np.int64)
    got = model.score_pairs(queries, rows, items)
    block = model.score(queries).toarray()
    block[block == 0] = np.nan  # CSR: a missing entry is no opinion
    known = (items >= 0) & (items < model.n_tracks)
    expected = np.full(len(items), np.nan, dtype=np.float32)
    expected[known] = block[rows[known], items[known]]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert got.dtype == np.float32 and len(got) == len(items)


@functools.cache
def _als_all() -> ALS:
    # min_count 2 leaves track 40 (played once) unscored; 50 candidates hold every other track.
    playlists = [[i % 40, (i + 1) % 40, (i * 7) % 40] for i in range(80)] + [[40]]
    return ALS(ALSConfig(factors=4, iterations=3, max_candidates=50)).fit(world(playlists, 42))


# ------------------------------------------------------------------ title
def title_world() -> TrainingData:
    playlists = [[0, 1, 2]] * 5 + [[3, 4, 5]] * 5 + [[6, 7]] * 5 + [[8]] * 20
    titles = ["Workout"] * 5 + ["sleep"] * 5 + ["Throwbacks!"] * 5 + [""] * 20
    return world(playlists, 10, titles)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("WORKOUT!!", {0, 1, 2}),
        ("workouts", {0, 1, 2}),
        ("sleepy", {3, 4, 5}),
        ("#throwback", {6, 7}),
    ],
)
def test_title_matches_normalized_and_fuzzy_titles(title: str, expected: set[int]) -> None:
    model = create("title", ["prior=0"]).fit(title_world())  # matching alone, no smoothing
    items, scores = model.recommend([Query(name=title)], k=len(expected)).row(0)
    assert set(items.tolist()) == expected
    assert not np.isnan(scores).any()


@settings(max_examples=60, deadline=None)
@given(
    cells=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 29), st.floats(0.125, 10.0, width=32)),
        max_size=40,
        unique_by=lambda c: (c[0], c[1]),
    ),
    titled=st.lists(st.booleans(), min_size=4, max_size=4),
    top=st.lists(st.integers(0, 29), max_size=12, unique=True),
)
def test_title_prior_sum_is_scipys_sum(cells, titled, top) -> None:
    """`_plus_prior` gives every entry of scipy's `scores + prior_block`, to the bit."""
    from spotifier.models.title import _plus_prior

    rows, cols, vals = (np.array(v) for v in zip(*cells, strict=True)) if cells else ([],) * 3
    scores = sp.csr_matrix(
        (np.asarray(vals, np.float32), (np.asarray(rows, int), np.asarray(cols, int))),
        shape=(4, 30),
    )
    top_ids = np.array(top, dtype=np.int64)
    prior = np.linspace(0.5, 2.0, len(top_ids)).astype(np.float32)
    block = np.zeros((4, 30), dtype=np.float32)
    for j in np.flatnonzero(titled):
        block[j, top_ids] = prior
    expected = (scores + sp.csr_matrix(block)).toarray()
    dense = np.zeros(30, dtype=np.float32)
    dense[top_ids] = prior
    got = _plus_prior(scores, np.array(titled), top_ids, dense)
    assert got.dtype == np.float32 and got.nnz == np.count_nonzero(expected)
    np.testing.assert_array_equal(got.toarray(), expected)


def test_title_prior_smooths_weak_matches_towards_popularity() -> None:
    # Track 8 is in 20 untitled playlists: the most popular track.
    smoothed = create("title", ["prior=8"]).fit(title_world())
    plain = create("title", ["prior=0"]).fit(title_world())
    weak = Query(name="workouts")  # a fuzzy match: its votes are weaker than the prior
    assert 8 not in plain.recommend([weak], k=3).row(0)[0].tolist()
    assert smoothed.recommend([weak], k=1).row(0)[0].tolist() == [8]
    # An exact match of a 5-playlist title outweighs a prior of 4 for its tracks.
    strong = create("title", ["prior=4"]).fit(title_world())
    items = strong.recommend([Query(name="Workout")], k=3).row(0)[0].tolist()
    assert set(items) == {0, 1, 2}


def test_title_ignores_blank_training_titles_and_queries() -> None:
    model = create("title").fit(title_world())
    assert "" not in model.titles and len(model.titles) == 3
    items, scores = model.recommend([Query(name="?!")], k=3).row(0)
    assert items[0] == 8 and np.isnan(scores).all()  # popularity: track 8 is the most common


# ------------------------------------------------------------------ similarity helpers
@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 8),
    st.integers(1, 4),
    st.integers(0, 10_000),
)
def test_top_k_per_row_keeps_the_largest(rows: int, cols: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    dense = rng.integers(0, 4, size=(rows, cols)).astype(np.float32) * (
        rng.random((rows, cols)) < 0.6
    )
    kept = top_k_per_row(sp.csr_matrix(dense), k).toarray()
    for r in range(rows):
        nonzero = dense[r][dense[r] > 0]
        assert (kept[r] > 0).sum() == min(k, len(nonzero))
        assert sorted(kept[r][kept[r] > 0])[::-1] == sorted(nonzero)[::-1][: min(k, len(nonzero))]
        assert np.all((kept[r] == 0) | (kept[r] == dense[r]))


def test_blocked_neighbours_equals_one_block() -> None:
    rng = np.random.default_rng(0)
    x = sp.csr_matrix((rng.random((30, 25)) < 0.2).astype(np.float32))
    left = sp.csr_matrix(x.T)
    whole = blocked_neighbours(left, x, k=4, block=1000)
    pieces = blocked_neighbours(left, x, k=4, block=7)
    assert (whole != pieces).nnz == 0
    assert whole.diagonal().sum() == 0


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 25), st.integers(1, 20), st.integers(1, 6), st.integers(1, 60),
    st.integers(0, 10_000),
)  # fmt: skip
def test_blocked_neighbours_is_the_scaled_product_cut_to_top_k(
    items: int, playlists: int, k: int, budget: int, seed: int
) -> None:
    """Whatever the blocks (a budget of a few entries makes one row per block), the result is
    the dense product's top k per row, diagonal dropped, ties to the lower column."""
    rng = np.random.default_rng(seed)
    x = sp.csr_matrix((rng.random((playlists, items)) < 0.3).astype(np.float32))
    rows_scale = rng.integers(1, 4, items).astype(np.float32)
    cols_scale = rng.integers(1, 4, items).astype(np.float32)
    got = blocked_neighbours(
        sp.csr_matrix(x.T), x, k, rows_scale, cols_scale, block=7, budget=budget
    )
    dense = rows_scale[:, None] * (x.T @ x).toarray() * cols_scale[None, :]
    np.fill_diagonal(dense, 0)
    assert got.has_canonical_format
    assert got.toarray().tolist() == top_k_per_row(sp.csr_matrix(dense), k).toarray().tolist()


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5), st.integers(1, 12), st.integers(1, 5), st.integers(0, 10_000))
def test_top_k_per_row_breaks_ties_by_lower_column(rows: int, cols: int, k: int, seed: int) -> None:
    # Few distinct values, so ties at the threshold are common: the reference is a per-row
    # stable sort on (-value, column).
    rng = np.random.default_rng(seed)
    dense = rng.integers(0, 3, size=(rows, cols)).astype(np.float32)
    kept = top_k_per_row(sp.csr_matrix(dense), k).toarray()
    for r in range(rows):
        cols_nz = np.flatnonzero(dense[r])
        order = cols_nz[np.lexsort((cols_nz, -dense[r][cols_nz]))][:k]
        expected = np.zeros(cols, dtype=np.float32)
        expected[order] = dense[r][order]
        assert kept[r].tolist() == expected.tolist()
