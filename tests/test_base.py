"""The shared recommender machinery: top-k, seed exclusion, back-fill, persistence, overrides."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotifier.data import Query
from spotifier.errors import InvalidInputError
from spotifier.models import create, registry
from spotifier.models.base import Recommender, parse_overrides
from spotifier.models.popularity import Popularity
from spotifier.models.topk import top_k_stable


def test_popularity_ranks_by_playlist_count(tiny_world):
    model = Popularity().fit(tiny_world)
    recs = model.recommend([Query()], k=3)
    assert recs.items[0, 0] == 20  # in every playlist


def test_seeds_excluded_and_unique_and_padded(tiny_world):
    model = Popularity().fit(tiny_world)
    seeds = np.array([20, 0, 1])
    recs = model.recommend([Query(seeds=seeds)], k=30)
    items, _ = recs.row(0)
    assert not set(items.tolist()) & set(seeds.tolist())
    assert len(set(items.tolist())) == len(items) == 22 - 3
    assert (recs.items[0, len(items) :] == -1).all()


def test_save_load_round_trip(tmp_path, tiny_world):
    model = Popularity().fit(tiny_world)
    model.save(tmp_path)
    again = registry.load(tmp_path)
    queries = [Query(seeds=[1, 2]), Query(name="rock")]
    a, b = model.recommend(queries, 10), again.recommend(queries, 10)
    assert np.array_equal(a.items, b.items)


def test_top_k_stable_breaks_ties_by_index():
    cand = np.array([9, 8, 7, 6])
    vals = np.array([1.0, 1.0, 1.0, 2.0])
    items, _ = top_k_stable(cand, vals, 2)
    assert items.tolist() == [6, 7]


def test_overrides_reject_unknown_keys():
    with pytest.raises(InvalidInputError, match="unknown setting 'nope'"):
        parse_overrides(Popularity.config_class, ["nope=1"])
    with pytest.raises(InvalidInputError, match="key=value"):
        create("popularity", ["seed"])


def test_popularity_is_a_pure_baseline_in_the_chain(tiny_world):
    from spotifier.models.chain import FallbackChain

    title = create("title").fit(tiny_world)
    popularity = Popularity().fit(tiny_world)
    other = create("item-knn").fit(tiny_world)
    titled = [Query(name="chill")]
    # The chain routes a zero-seed titled query to the title model, except for popularity:
    # its row is the floor of every gap share, so it stays popularity.
    assert FallbackChain(other, title).route(titled[0]) == "title"
    chain = FallbackChain(popularity, title)
    assert chain.route(titled[0]) == "model"
    assert np.array_equal(chain.recommend(titled, 5).items, popularity.recommend(titled, 5).items)


def test_popularity_head_then_backfill_is_the_whole_order(tiny_world, monkeypatch):
    model = Popularity().fit(tiny_world)
    seeds = np.array([20, 3])
    expected = [t for t in model.popularity_order.tolist() if t not in (20, 3)][:12]
    # A head shorter than k: the back-fill continues.
    monkeypatch.setattr(model, "config", replace(model.config, max_candidates=4))
    items, _ = model.recommend([Query(seeds=seeds)], k=12).row(0)
    assert items.tolist() == expected


class _Fixed(Recommender):
    """Scores every track from a fixed table (dense or CSR): a stand-in for a factor model."""

    name = "fixed"

    def __init__(self, table, n_tracks: int) -> None:
        super().__init__()
        self.table = table
        self.n_tracks = n_tracks
        self.popularity_counts = np.zeros(n_tracks, dtype=np.int64)
        self.popularity_order = np.arange(n_tracks, dtype=np.int32)

    def _fit(self, data) -> None:  # pragma: no cover - never fitted
        raise NotImplementedError

    def _score(self, queries):
        return self.table[: len(queries)]


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 10_000),
    st.sampled_from([1, 10, 500, 1500]),
    st.sampled_from([3, 50, 1000]),
    st.booleans(),
)
def test_long_rows_skip_to_their_contenders_exactly(seed, k, levels, sparse):
    """The sampled floor for long rows changes nothing: same items, scores and back-fill as
    looking at every value (few distinct levels make ties at the k-th value common)."""
    import scipy.sparse as sp

    from spotifier.models import topk

    rng = np.random.default_rng(seed)
    n = 60_000
    table = rng.integers(0, levels, size=(3, n)).astype(np.float32)
    table[0, rng.random(n) < 0.3] = -np.inf  # not candidates
    table[1, rng.random(n) < 0.01] = np.nan
    table[2, :] = np.where(rng.random(n) < 0.999, -np.inf, table[2])  # too few: back-fill
    block = sp.csr_matrix(np.where(np.isfinite(table), table + 1, 0)) if sparse else table
    queries = [Query(seeds=rng.choice(n, size=s, replace=False)) for s in (0, 25, 3)]
    model = _Fixed(block, n)
    fast = model.recommend(queries, k)
    original = topk.contenders
    topk.contenders = lambda vals, need: None
    try:
        slow = model.recommend(queries, k)
    finally:
        topk.contenders = original
    assert np.array_equal(fast.items, slow.items)
    assert np.array_equal(fast.scores, slow.scores, equal_nan=True)


def _random_als(rng: np.random.Generator, n: int, factors: int = 8):
    from spotifier.models.als import ALS, ALSConfig

    model = ALS(ALSConfig(factors=factors, min_count=2))
    # Norms spread, but not so much that the largest always win: the bound must prune the rest.
    scale = np.exp(rng.normal(0.0, 0.3, size=(n, 1)))
    model.item_factors = (rng.standard_normal((n, factors)) * scale).astype(np.float32)
    model.n_tracks = n
    model.popularity_counts = rng.integers(0, 5, size=n)
    model.popularity_order = np.argsort(-model.popularity_counts, kind="stable")
    return model


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([1, 10, 500]), st.sampled_from([0, 1, 25]))
def test_als_norm_pruned_top_k_is_the_brute_force_top_k(seed, k, n_seeds):
    rng = np.random.default_rng(seed)
    model = _random_als(rng, 40_000)
    model.config = replace(
        model.config, head_size=1_000
    )  # small, so that most queries need the tail too
    known = np.flatnonzero(model.popularity_counts >= 2)
    queries = [Query(seeds=rng.choice(known, size=n_seeds, replace=False)) for _ in range(5)]
    got = model.recommend(queries, k)
    for query, items, scores in zip(queries, got.items, got.scores, strict=True):
        u = model.playlist_factor(query)
        if u is None:  # no seed: popularity back-fill only
            assert np.isnan(scores).all()
            continue
        brute = model.item_factors[known].astype(np.float64) @ u.astype(np.float64)
        brute[np.isin(known, query.seeds)] = -np.inf
        kth = np.sort(brute)[-k]
        assert not np.isin(items, query.seeds).any()
        assert len(set(items.tolist())) == k
        # Every chosen track is (up to float32 rounding) as good as the k-th best non-seed track.
        chosen = brute[np.searchsorted(known, items)]
        assert chosen.min() >= kth - 1e-4 * max(1.0, abs(kth))
        assert np.all(np.diff(scores) <= 0)


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 10_000))
def test_als_score_block_holds_exactly_each_rows_best_candidates(seed):
    rng = np.random.default_rng(seed)
    model = _random_als(rng, 100_000)
    model.config = replace(model.config, head_size=2_000)
    known = np.flatnonzero(model.popularity_counts >= 2)
    queries = [Query(seeds=rng.choice(known, size=10, replace=False)), Query(seeds=np.array([]))]
    block = model._score(queries)
    assert block.indptr[2] - block.indptr[1] == 0  # no seed, no row
    cols = block.indices[: block.indptr[1]]
    assert len(cols) == model.config.max_candidates
    u = model.playlist_factor(queries[0])
    brute = model.item_factors[known].astype(np.float64) @ u.astype(np.float64)
    floor = np.sort(brute)[-model.config.max_candidates]
    assert brute[np.searchsorted(known, cols)].min() >= floor - 1e-4 * max(1.0, abs(floor))


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([1, 5_000, 60_000, 10**9]))
def test_als_tail_groups_change_no_score(seed, budget):
    """Scoring past the head in groups bounded by `tail_budget` (down to one row at a time, even
    a row wider than the budget) keeps the same tracks with the same scores (up to the last bit
    of float32: BLAS may sum a one-row product in another order than a block's)."""
    rng = np.random.default_rng(seed)
    model = _random_als(rng, 30_000)
    model.config = replace(model.config, head_size=500)
    known = np.flatnonzero(model.popularity_counts >= 2)
    queries = [Query(seeds=rng.choice(known, size=int(n), replace=False)) for n in (1, 3, 10, 40)]
    queries.insert(2, Query(seeds=np.array([], dtype=np.int64)))
    model.config = replace(model.config, tail_budget=10**12)
    whole = model._score(queries)
    model.config = replace(model.config, tail_budget=budget)
    grouped = model._score(queries)
    assert np.array_equal(whole.indptr, grouped.indptr)
    for j in range(len(queries)):
        a = slice(whole.indptr[j], whole.indptr[j + 1])
        b = slice(grouped.indptr[j], grouped.indptr[j + 1])
        mine, theirs = np.argsort(whole.indices[a]), np.argsort(grouped.indices[b])
        assert np.array_equal(whole.indices[a][mine], grouped.indices[b][theirs])
        assert np.allclose(whole.data[a][mine], grouped.data[b][theirs], rtol=1e-6, atol=0)
