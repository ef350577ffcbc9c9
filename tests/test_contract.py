"""The recommender contract, run against every registered model (later models join automatically).

Each model is fitted once on the tiny world (a module-level cache) with a small, fast config from
FAST_OVERRIDES; the tests then check the contract's promises on tiny worlds with known answers.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp

from spotifier.data import Query, TrainingData
from spotifier.models import Recommender, create, model_names, registry
from spotifier.models.base import Recommendations

#: Small configs so the whole suite stays fast; a model not listed uses its defaults.
FAST_OVERRIDES: dict[str, list[str]] = {
    "als": ["factors=4", "iterations=15", "regularization=0.1", "alpha=10"],
    "ease": ["n_items=100", "l2=10"],
    "item-knn": ["neighbours=50"],
    "rp3beta": ["neighbours=50"],
    "playlist-knn": ["neighbours=10"],
    "title": ["neighbours=10"],
    "ncf": ["factors=8", "mlp_layers=16,8", "epochs=30", "batch=64", "val_playlists=0"],
    "hybrid": [
        "generators=item-knn,title,popularity",
        "candidates=20",
        "n_estimators=20",
        "min_data_in_leaf=5",
    ],
}
#: Models that do not personalise (their answer ignores the seeds).
NOT_PERSONAL = {"popularity", "seed-ncf"}  # seed-ncf: added embeddings, no interaction term
CLUSTER_A = set(range(10))
NAMES = model_names()


_FITTED: dict[str, Recommender] = {}


def fitted(name: str, world: TrainingData) -> Recommender:
    """The model fitted on the tiny world (once per test session: the world never changes)."""
    if name not in _FITTED:
        _FITTED[name] = create(name, FAST_OVERRIDES.get(name, [])).fit(world)
    return _FITTED[name]


def sample_queries() -> list[Query]:
    return [
        Query(seeds=np.array([0, 1, 2])),
        Query(seeds=np.array([10, 11]), name="chill"),
        Query(name="rock"),
        Query(),
        Query(seeds=np.array([5, 5, 20])),
        Query(seeds=np.array([12, 3, 17, 8, 19, 0])),
        Query(seeds=np.array([999, -3, 4])),
    ]


def assert_same(a: Recommendations, b: Recommendations) -> None:
    """Equal lists; where floating-point noise could reorder near-ties, equal as sets of ties."""
    assert a.items.shape == b.items.shape
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-4, atol=1e-6, equal_nan=True)
    for row_a, row_b, score in zip(a.items, b.items, a.scores, strict=True):
        if np.array_equal(row_a, row_b):
            continue
        groups = np.round(np.nan_to_num(score, nan=-1e30), 4)
        for value in np.unique(groups):
            same = groups == value
            assert set(row_a[same].tolist()) == set(row_b[same].tolist())


@pytest.fixture(params=NAMES)
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_seeds_never_returned_and_results_unique(name: str, tiny_world: TrainingData) -> None:
    model = fitted(name, tiny_world)
    queries = sample_queries()
    recs = model.recommend(queries, k=10)
    assert recs.items.shape == (len(queries), 10)
    for i, query in enumerate(queries):
        items, _ = recs.row(i)
        assert not set(items.tolist()) & set(query.seeds.tolist())
        assert len(set(items.tolist())) == len(items)
        assert ((items >= 0) & (items < model.n_tracks)).all()


def test_exactly_k_when_catalogue_allows(name: str, tiny_world: TrainingData) -> None:
    model = fitted(name, tiny_world)
    for k in (1, 5, 16):
        recs = model.recommend(sample_queries(), k=k)
        assert recs.items.shape[1] == k
        assert (recs.items >= 0).all(), "rows must be filled when the catalogue allows"


def test_padding_when_k_exceeds_catalogue(name: str, tiny_world: TrainingData) -> None:
    model = fitted(name, tiny_world)
    query = Query(seeds=np.array([0, 1, 2]))
    recs = model.recommend([query, Query()], k=40)
    first, _ = recs.row(0)
    assert len(first) == 22 - 3  # every other track, then padding
    assert (recs.items[0, 19:] == -1).all()
    assert np.isnan(recs.scores[0, 19:]).all()
    assert len(recs.row(1)[0]) == 22


def test_scores_descend_then_backfill(name: str, tiny_world: TrainingData) -> None:
    recs = fitted(name, tiny_world).recommend(sample_queries(), k=15)
    for row in recs.scores:
        scored = row[~np.isnan(row)]
        assert np.all(np.diff(scored) <= 1e-6)
        # back-fill (NaN) only after the model's own candidates
        nan_at = np.flatnonzero(np.isnan(row))
        assert len(nan_at) == 0 or nan_at[0] == len(scored)


def test_batch_equals_one_by_one(name: str, tiny_world: TrainingData) -> None:
    model = fitted(name, tiny_world)
    queries = sample_queries()
    batch = model.recommend(queries, k=12)
    for i, query in enumerate(queries):
        single = model.recommend([query], k=12)
        assert_same(Recommendations(batch.items[[i]], batch.scores[[i]]), single)


def test_pair_scores_agree_with_the_score_block(name: str, tiny_world: TrainingData) -> None:
    """A model that scores chosen pairs (`scores_pairs`) gives every track in its score block
    that block's score; the others refuse with a clear error (a composite reads their block)."""
    model = fitted(name, tiny_world)
    queries = sample_queries()
    rows = np.repeat(np.arange(len(queries)), 30)
    items = np.tile(np.arange(-2, 28), len(queries))
    if not model.scores_pairs:
        with pytest.raises(NotImplementedError, match=name):
            model.score_pairs(queries, rows, items)
        return
    got = model.score_pairs(queries, rows, items)
    block = model.score(queries)
    dense = block.toarray() if sp.issparse(block) else np.asarray(block)
    valid = (items >= 0) & (items < model.n_tracks)
    held = np.zeros(len(items), dtype=bool)
    if sp.issparse(block):
        held[valid] = np.asarray(block[rows[valid], items[valid]] != 0).ravel()
    else:
        held[valid] = np.isfinite(dense[rows[valid], items[valid]])
    assert got.shape == items.shape and held.any()
    np.testing.assert_allclose(got[held], dense[rows[held], items[held]], rtol=1e-5, atol=1e-6)
    assert np.isnan(got[~valid]).all()


def test_batches_split_like_one_batch(
    name: str, tiny_world: TrainingData, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = fitted(name, tiny_world)
    queries = sample_queries()
    whole = model.recommend(queries, k=12)
    monkeypatch.setattr(model, "config", replace(model.config, batch_size=2))
    assert_same(whole, model.recommend(queries, k=12))


def test_save_load_identical(name: str, tiny_world: TrainingData, tmp_path) -> None:
    model = fitted(name, tiny_world)
    model.save(tmp_path)
    again = registry.load(tmp_path)
    assert type(again) is type(model)
    assert again.config == model.config
    queries = sample_queries()
    a, b = model.recommend(queries, k=15), again.recommend(queries, k=15)
    assert np.array_equal(a.items, b.items)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_empty_query_gets_popularity_order(name: str, tiny_world: TrainingData) -> None:
    model = fitted(name, tiny_world)
    items, _ = model.recommend([Query()], k=22).row(0)
    assert len(items) == 22
    if not model.handles_titles:
        # no seeds and no title: the model has nothing to go on but popularity
        assert items[0] == 20


def test_unknown_ids_are_ignored(name: str, tiny_world: TrainingData) -> None:
    model = fitted(name, tiny_world)
    clean = model.recommend([Query(seeds=np.array([4, 6]))], k=10)
    noisy = model.recommend([Query(seeds=np.array([4, -1, 6, 22, 10_000]))], k=10)
    assert_same(clean, noisy)


def test_deterministic_for_a_seed(name: str, tiny_world: TrainingData) -> None:
    overrides = FAST_OVERRIDES.get(name, [])
    a = create(name, overrides).fit(tiny_world).recommend(sample_queries(), k=10)
    b = create(name, overrides).fit(tiny_world).recommend(sample_queries(), k=10)
    assert_same(a, b)


def test_recommends_the_right_cluster(name: str, tiny_world: TrainingData) -> None:
    if name in NOT_PERSONAL:
        pytest.skip("does not personalise")
    model = fitted(name, tiny_world)
    for cluster, seeds, title in (
        (range(10), [0, 1, 2], "rock"),
        (range(10, 20), [11, 13], "chill"),
    ):
        query = Query(seeds=np.array(seeds), name=title)
        items, _ = model.recommend([query], k=6).row(0)
        hits = sum(int(t) in cluster for t in items if t != 20)
        assert hits >= 4, f"{name} recommended {items.tolist()} for seeds {seeds}"


def test_title_only_queries(name: str, tiny_world: TrainingData) -> None:
    model = fitted(name, tiny_world)
    recs = model.recommend([Query(name="rock"), Query(name="  "), Query(name="chill")], k=8)
    assert (recs.items >= 0).all()
    if model.handles_titles and name not in NOT_PERSONAL:
        rock, _ = recs.row(0)
        chill, _ = recs.row(2)
        assert sum(int(t) in CLUSTER_A for t in rock) >= 5
        assert sum(int(t) in CLUSTER_A for t in chill) <= 2


def test_explain_has_one_reason_per_item(name: str, tiny_world: TrainingData) -> None:
    model = fitted(name, tiny_world)
    query = Query(seeds=np.array([0, 1]), name="rock")
    items, _ = model.recommend([query], k=5).row(0)
    reasons = model.explain(query, items)
    assert len(reasons) == len(items)
    assert all(r is None or isinstance(r, str) for r in reasons)


def test_fits_a_world_with_unseen_and_single_track_playlists(
    name: str, tiny_world: TrainingData
) -> None:
    from spotifier.data import Interactions

    inter = Interactions.from_lists(
        [[0], [1, 2], [2, 3, 0], [3]], n_tracks=6, titles=["a", "", "b", "a"]
    )
    world = TrainingData(inter, np.zeros(6, np.int32), np.zeros(6, np.int32))
    model = create(name, FAST_OVERRIDES.get(name, [])).fit(world)
    recs = model.recommend([Query(seeds=np.array([2])), Query(name="a")], k=6)
    assert len(recs.row(0)[0]) == 5 and len(recs.row(1)[0]) == 6


# ---------------------------------------------------------------- edge cases, default configs
def make_small_catalogue(n_tracks: int = 60, n_playlists: int = 240) -> TrainingData:
    """A catalogue of `n_tracks` tracks in three clusters, titled by cluster (LensKit-style:
    the default configs, sized for catalogues a thousand times larger, must still work)."""
    from spotifier.data import Interactions

    rng = np.random.default_rng(11)
    clusters = np.array_split(np.arange(n_tracks), 3)
    names = ("rock", "chill", "party")
    playlists, titles = [], []
    for i in range(n_playlists):
        pool = clusters[i % 3]
        size = int(rng.integers(3, min(15, len(pool))))
        playlists.append(rng.choice(pool, size=size, replace=False).tolist())
        titles.append(names[i % 3])
    inter = Interactions.from_lists(playlists, n_tracks=n_tracks, titles=titles)
    artists = (np.arange(n_tracks) // 4).astype(np.int32)
    albums = (np.arange(n_tracks) // 2).astype(np.int32)
    return TrainingData(inter, artists, albums)


@pytest.mark.slow
def test_default_config_on_a_60_track_catalogue(name: str) -> None:
    """Every model, with its defaults, fits and recommends on 60 tracks (k beyond the catalogue,
    seeded, title-only and empty queries)."""
    world = make_small_catalogue()
    model = create(name).fit(world)
    queries = [Query(seeds=np.array([0, 3, 5])), Query(name="chill"), Query()]
    recs = model.recommend(queries, k=100)
    assert recs.items.shape == (3, 100)
    first, _ = recs.row(0)
    assert len(first) == 57 and not {0, 3, 5} & set(first.tolist())
    assert len(recs.row(1)[0]) == 60 and len(recs.row(2)[0]) == 60
    for i in range(3):
        items, _ = recs.row(i)
        assert len(set(items.tolist())) == len(items)


# ---------------------------------------------------------------- composite models' contract
PRIVATE_CONTRACT = {"_score", "_score_top", "_top_k", "_fit"}


def test_no_code_calls_another_objects_private_contract() -> None:
    """Composite models use `score()` / `candidates()` / `fit()`: `_score`, `_top_k` and `_fit`
    are reached only through `self` (a change to the base's helpers cannot break a caller)."""
    import ast
    from pathlib import Path

    import spotifier

    offenders = []
    for path in sorted(Path(spotifier.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Attribute) and node.attr in PRIVATE_CONTRACT):
                continue
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in {"self", "cls"}:
                continue
            if isinstance(owner, ast.Call) and getattr(owner.func, "id", "") == "super":
                continue
            offenders.append(f"{path.name}:{node.lineno}: .{node.attr}")
    assert not offenders, offenders
