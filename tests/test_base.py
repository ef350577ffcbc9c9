"""The shared recommender machinery: top-k, seed exclusion, back-fill, persistence, overrides."""

from __future__ import annotations

import numpy as np
import pytest

from spotifier.data import Query
from spotifier.errors import InvalidInputError
from spotifier.models import create
from spotifier.models.base import Recommender, parse_overrides, top_k_stable
from spotifier.models.popularity import Popularity


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
    again = Recommender.load(tmp_path)
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
    monkeypatch.setattr(Popularity, "candidates", 4)  # a head shorter than k: back-fill continues
    items, _ = model.recommend([Query(seeds=seeds)], k=12).row(0)
    assert items.tolist() == expected
