"""hybrid: validation cases cut from training data, features, the ranker, candidate recall."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotifier.data import Interactions, Query, TrainingData
from spotifier.models import Recommender, create, registry
from spotifier.models.hybrid import side as hs
from spotifier.models.hybrid.candidates import Lists, pool
from spotifier.models.hybrid.features import SHARED, Columns, collect, feature_names
from spotifier.models.hybrid.ranker import Reranker
from spotifier.models.validation import cut_to_seeds, validation_cases, validation_cuts


def features(lists: Lists, j: int, query: Query, side: hs.Side) -> tuple[np.ndarray, np.ndarray]:
    """Query j's candidates and their feature rows, as the hybrid builds them (the batch's other
    rows left out)."""
    n_q = lists.items.shape[1]
    queries = [query if i == j else Query(seeds=np.zeros(0, np.int64)) for i in range(n_q)]
    cands = pool(lists, queries, side).subset(np.arange(n_q) == j)
    return cands.of(j), collect(lists, queries, cands, side)


def clustered_world(n_playlists: int = 400, seed: int = 5) -> TrainingData:
    """Four taste clusters of 40 tracks each, titled by cluster, popularity-skewed inside."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, 41) ** 0.8
    weights /= weights.sum()
    playlists, titles = [], []
    for i in range(n_playlists):
        cluster = i % 4
        size = int(rng.integers(12, 36))
        tracks = cluster * 40 + rng.choice(40, size=size, replace=False, p=weights)
        playlists.append(tracks.tolist())
        titles.append(["rock", "chill", "party", "sleep"][cluster])
    inter = Interactions.from_lists(playlists, n_tracks=160, titles=titles)
    return TrainingData(inter, (np.arange(160) // 8).astype(np.int32), np.arange(160) // 4)


FAST = [
    "generators=item-knn,title,popularity",
    "candidates=60",
    "val_playlists=200",
    "n_estimators=40",
    "negatives=30",
]


@pytest.fixture(scope="module")
def fitted() -> tuple[Recommender, TrainingData]:
    world = clustered_world()
    return create("hybrid", FAST).fit(world), world


def test_cut_to_seeds_removes_every_hidden_track() -> None:
    world = clustered_world(200)
    stage, cases = validation_cases(world, 40, seed=1)
    assert len(cases) >= 30
    kept = {int(p): stage.interactions.playlist(i) for i, p in enumerate(stage.interactions.pids)}
    for case in cases:
        remaining = kept.get(case.pid, np.array([], dtype=np.int32))
        assert np.array_equal(remaining, case.query.seeds)  # exactly the seeds, in order
        assert not np.isin(case.truth, remaining).any()
    untouched = set(range(200)) - {c.row for c in cases}
    for row in list(untouched)[:20]:
        assert np.array_equal(kept[row], world.interactions.playlist(row))


def test_cut_to_seeds_blanks_titles_of_untitled_cases() -> None:
    world = clustered_world(200)
    _, cases = validation_cases(world, 100, seed=2)
    cut = cut_to_seeds(world.interactions, cases)
    titles = dict(zip(cut.pids.tolist(), cut.titles.tolist(), strict=True))
    untitled = [c for c in cases if not c.query.name and c.pid in titles]
    assert untitled, "categories 4 and 6 have no title"
    assert all(titles[c.pid] == "" for c in untitled)


def test_features_by_hand() -> None:
    items = np.array([[[5, 7, -1]], [[7, 9, 2]]], dtype=np.int32)
    scores = np.array([[[2.0, 1.0, np.nan]], [[0.5, 0.4, 0.1]]], dtype=np.float32)
    side = hs.Side.build(np.array([0] * 5 + [1] * 5), np.arange(10), np.ones(10))
    cands, x = features(Lists(items, scores), 0, Query(seeds=np.array([6, 8])), side)
    assert cands.tolist() == [2, 5, 7, 9]
    names = feature_names(["a", "b"])
    col = {n: x[:, i] for i, n in enumerate(names)}
    np.testing.assert_allclose(col["a:rank"], [4, 1, 2, 4])  # absent = k + 1
    np.testing.assert_allclose(col["a:relative"][[1, 2]], [1.0, 0.5])
    np.testing.assert_allclose(col["b:rank"], [3, 4, 1, 2])
    np.testing.assert_allclose(col["n_generators"], [1, 1, 2, 1])
    np.testing.assert_allclose(col["seed_artist_count"], [0, 2, 2, 2])  # seeds are artist 1


def test_ranker_trains_on_validation_cases_and_reports_recall(fitted) -> None:
    model, _ = fitted
    assert model.reranker is not None
    recall = {k: v for k, v in model.report.items() if k.startswith("candidate_recall_")}
    assert len(recall) >= 6  # categories 9 and 10 need playlists longer than this world has
    assert all(0.0 <= v <= 1.0 for v in recall.values())


def test_candidate_recall_counts_truth_among_candidates(fitted) -> None:
    model, world = fitted
    query = Query(seeds=world.interactions.playlist(0)[:5])
    candidates = set(model.recommend([query], k=500).row(0)[0][:10].tolist())
    inside = np.array(sorted(candidates)[:3])
    outside = np.array([159]) if 159 not in candidates else np.array([0])
    got = model.candidate_recall([query, query], [inside, outside])
    assert got[0] == 1.0


def test_saved_ranker_is_lightgbm_text_and_round_trips(fitted, tmp_path) -> None:
    model, _ = fitted
    model.save(tmp_path)
    assert (tmp_path / "ranker.txt").read_text().startswith("tree")
    assert sorted(p.name for p in (tmp_path / "generators").iterdir()) == [
        "item-knn",
        "popularity",
        "title",
    ]
    again = registry.load(tmp_path)
    queries = [Query(seeds=np.array([1, 2, 3])), Query(name="party"), Query()]
    a, b = model.recommend(queries, 30), again.recommend(queries, 30)
    np.testing.assert_array_equal(a.items, b.items)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6)
    saved, loaded = model.side.artist_similarity, again.side.artist_similarity  # not refitted
    assert saved.nnz > 0 and (saved != loaded).nnz == 0


def test_a_hybrid_saved_before_the_package_loads_and_answers_alike(fitted, tmp_path) -> None:
    """Saves from before `hybrid/` held no `generator_names` and no `auto_folds`: every
    configured generator was fitted, and the folds default applies."""
    import json

    model, _ = fitted
    model.save(tmp_path)
    arrays = dict(np.load(tmp_path / "arrays.npz", allow_pickle=False))
    del arrays["generator_names"]
    np.savez(tmp_path / "arrays.npz", **arrays)
    spec = json.loads((tmp_path / "config.json").read_text())
    del spec["config"]["auto_folds"]
    (tmp_path / "config.json").write_text(json.dumps(spec))
    again = registry.load(tmp_path)
    assert again.generator_names == model.config.generators
    queries = [Query(seeds=np.array([1, 2, 3])), Query(name="party")]
    np.testing.assert_array_equal(
        model.recommend(queries, 30).items, again.recommend(queries, 30).items
    )


def test_hybrid_beats_popularity_on_unseen_playlists(fitted) -> None:
    from spotifier.metrics import ndcg

    model, world = fitted
    fresh = clustered_world(80, seed=99)
    popularity = create("popularity").fit(world)
    wins = []
    for m in (model, popularity):
        scores = []
        for row in range(80):
            tracks = fresh.interactions.playlist(row)
            query = Query(seeds=tracks[:5], name=str(fresh.interactions.titles[row]))
            ranked = m.recommend([query], k=100).row(0)[0].tolist()
            scores.append(ndcg(ranked, set(tracks[5:].tolist())))
        wins.append(np.mean(scores))
    assert wins[0] > wins[1] + 0.05


def test_title_only_queries_use_the_title_generator(fitted) -> None:
    model, _ = fitted
    items, _ = model.recommend([Query(name="sleep")], k=10).row(0)
    assert sum(120 <= int(t) < 160 for t in items) >= 8


def test_transitions_and_gap_features_by_hand() -> None:
    # Track 3 always follows 2 and precedes 4; tracks 0-4 are one album, 5-9 another.
    inter = Interactions.from_lists([[1, 2, 3, 4], [2, 3, 4], [6, 2, 3]], n_tracks=10)
    trans = hs.transitions(inter)
    assert trans[2, 3] == 3 and trans[3, 4] == 2 and trans[3, 2] == 0
    side = hs.Side.build(np.arange(10) // 5, np.arange(10) // 5, np.ones(10), trans)
    items = np.array([[[3, 4, 8]]], dtype=np.int32)
    scores = np.array([[[3.0, 2.0, 1.0]]], dtype=np.float32)
    lists = Lists(items, scores)
    names = feature_names(["a"])
    # A prefix ending in track 2: its successor 3 follows the gap.
    _, x = features(lists, 0, Query(seeds=np.array([6, 2])), side)
    col = {n: x[:, i] for i, n in enumerate(names)}
    np.testing.assert_allclose(col["follows_gap"], [3, 0, 0])
    np.testing.assert_allclose(col["precedes_gap"], [0, 0, 0])
    np.testing.assert_allclose(col["last_album"], [1, 1, 0])
    # The first track hidden (seeds from position 1 on): 3 is played right before seed 4.
    hide_first = Query(seeds=np.array([4, 7]), positions=np.array([1, 2]), num_tracks=3)
    _, x = features(lists, 0, hide_first, side)
    col = {n: x[:, i] for i, n in enumerate(names)}
    np.testing.assert_allclose(col["precedes_gap"], [2, 0, 0])
    np.testing.assert_allclose(col["follows_gap"], [0, 0, 0])
    np.testing.assert_allclose(col["album_prev"], [1, 1, 0])


def test_full_scores_reach_candidates_outside_a_generators_top_k(fitted) -> None:
    model, world = fitted
    names = feature_names(model.generator_names)
    g = model.generator_names.index("item-knn")
    score = names.index("item-knn:score")
    queries = [
        Query(seeds=world.interactions.playlist(r)[:2], name=str(world.interactions.titles[r]))
        for r in range(40)
    ]
    lists = model.stage_one.generate(queries, 3)
    reached = 0
    for j, query in enumerate(queries):
        cands, x = features(lists, j, query, model.side)
        outside = x[:, names.index("item-knn:rank")] > 3
        # Every candidate carries item-knn's own score where it has one, in its top 3 or not.
        expected = lists.blocks[g][j, cands].toarray().ravel()
        np.testing.assert_allclose(np.nan_to_num(x[:, score]), expected, rtol=1e-6)
        reached += int(np.isfinite(x[outside, score]).sum())
    assert reached > 0


def test_album_mates_join_the_candidates() -> None:
    counts = np.array([5, 1, 3, 0, 2, 2], dtype=np.int64)
    side = hs.Side.build(
        np.zeros(6, np.int32), np.array([0, 0, 0, 0, 1, 1]), counts, album_candidates=2
    )
    # Album 0 (two seeds) before album 1; inside an album, most played first; unseen track 3 never.
    assert side.album_mates(np.array([0, 1, 4])).tolist()[:4] == [0, 2, 1, 4]
    lists = Lists(np.full((1, 1, 1), -1, np.int32), np.full((1, 1, 1), np.nan, np.float32))
    cands, _ = features(lists, 0, Query(seeds=np.array([0, 1, 4])), side)
    assert cands.tolist() == [2, 5]


def test_a_cuts_side_facts_never_count_its_hidden_tracks() -> None:
    """The ranker must see a validation case's hidden tracks unplayed, as a held-out playlist's
    are at query time: a track played only where a case hides it has no plays, no album rank
    and is no album mate (counting it told the ranker which candidates were hidden)."""
    from spotifier.split.sampling import hide_first_case

    base = clustered_world(120, seed=4)
    lists = [base.interactions.playlist(r).tolist() for r in range(base.interactions.n_playlists)]
    for r in range(10):  # playlist r opens with a track nobody else plays, on its 2nd's album
        lists[r] = [160 + r, *lists[r]]
    inter = Interactions.from_lists(lists, n_tracks=170, titles=list(base.interactions.titles))
    album = np.r_[base.track_album, base.track_album[[p[1] for p in lists[:10]]]]
    world = TrainingData(inter, np.r_[base.track_artist, np.zeros(10, np.int32)], album)
    cases = [hide_first_case(inter, r) for r in range(10)]
    stage = TrainingData(cut_to_seeds(inter, cases), world.track_artist, world.track_album)
    model = create("hybrid", [*FAST, "album_candidates=50"]).fit(world)
    model._fit_stage(stage, model.generator_names)  # type: ignore[attr-defined]
    side = model.side  # type: ignore[attr-defined]
    rare = np.arange(160, 170)
    assert (side.track_log_count[rare] == 0).all()
    assert np.isnan(side.album_rank[rare]).all()
    for case in cases:
        assert not np.isin(case.truth, side.album_mates(case.query.seeds)).any()
    played = np.flatnonzero(stage.interactions.track_counts)
    np.testing.assert_allclose(
        side.track_log_count[played], np.log1p(stage.interactions.track_counts[played]), rtol=1e-6
    )
    # at query time (fitted, refitted on all the data) every play counts again
    model.fit(world)
    assert (model.side.track_log_count[rare] > 0).all()  # type: ignore[attr-defined]


def test_zero_seed_queries_get_exactly_the_title_models_list(fitted) -> None:
    model, world = fitted
    title = create("title").fit(world)
    queries = [Query(name="party"), Query(name="chill vibes"), Query(name="zzzz unknown")]
    np.testing.assert_array_equal(
        model.recommend(queries, 50).items, title.recommend(queries, 50).items
    )


def test_hide_first_shaped_validation_cases() -> None:
    world = clustered_world(400)
    stage, cases = validation_cases(world, 40, seed=3, hide_first=30)
    shaped = [c for c in cases if c.category == "hide-first"]
    assert 20 <= len(shaped) <= 30
    rows = [c.row for c in cases]
    assert len(set(rows)) == len(rows)  # every case from its own playlist
    for case in shaped:
        tracks = world.interactions.playlist(case.row)
        assert case.truth.tolist() == [tracks[0]]
        assert np.array_equal(case.query.seeds, tracks[1:])
        assert case.query.positions is not None and case.query.positions[0] == 1
    kept = {int(p): stage.interactions.playlist(i) for i, p in enumerate(stage.interactions.pids)}
    assert all(np.array_equal(kept[c.pid], c.query.seeds) for c in shaped)


def test_a_hybrid_saved_with_another_feature_set_asks_for_retraining(fitted, tmp_path) -> None:
    from spotifier.errors import InvalidInputError

    model, _ = fitted
    model.save(tmp_path)
    with np.load(tmp_path / "arrays.npz") as npz:  # as saved before the order features
        arrays = {k: npz[k] for k in npz.files if not k.startswith("transitions")}
    np.savez(tmp_path / "arrays.npz", **arrays)
    with pytest.raises(InvalidInputError, match="train it again"):
        registry.load(tmp_path)


def test_artist_credit_labels_train_a_ranker() -> None:
    world = clustered_world(200, seed=7)
    model = create("hybrid", [*FAST, "artist_gain=0.25", "refit=false"]).fit(world)
    assert model.reranker is not None  # type: ignore[attr-defined]
    items, _ = model.recommend([Query(seeds=world.interactions.playlist(2)[:5])], 20).row(0)
    assert len(set(items.tolist())) == 20


def test_a_batch_gives_each_query_the_rows_it_gets_alone(fitted) -> None:
    """The collector works on a whole batch at once: every query's candidates and feature rows
    are the same, to the bit, as when it is asked alone (prefixes, random positions with gaps,
    a title-only query, repeated seeds, a query with no known neighbour)."""
    model, world = fitted
    inter = world.interactions
    queries = [
        Query(seeds=inter.playlist(0)[:5], name="rock", num_tracks=30),
        Query(seeds=inter.playlist(1)[[0, 3, 7]], positions=np.array([0, 3, 7]), num_tracks=12),
        Query(seeds=np.zeros(0, np.int64), name="chill"),
        Query(seeds=np.array([5, 5, 9, 5])),
        Query(seeds=inter.playlist(2)[:1], name="party", num_tracks=2),
        Query(seeds=inter.playlist(3)[2:12], positions=np.arange(2, 12), num_tracks=40),
    ]
    queries = model.known(queries)
    k = model.config.candidates
    lists = model.stage_one.generate(queries, k)
    together = pool(lists, queries, model.side)
    x = collect(lists, queries, together, model.side)
    for j, query in enumerate(queries):
        alone_lists = model.stage_one.generate([query], k)
        alone = pool(alone_lists, [query], model.side)
        np.testing.assert_array_equal(together.of(j), alone.of(0))
        rows = x[together.offsets[j] : together.offsets[j + 1]]
        np.testing.assert_array_equal(rows, collect(alone_lists, [query], alone, model.side))


def test_cascade_gives_the_kept_candidates_their_full_score(fitted) -> None:

    model, world = fitted
    queries = [Query(seeds=world.interactions.playlist(r)[:5]) for r in range(6)]
    lists = model.stage_one.generate(queries, model.config.candidates)
    parts = [features(lists, j, q, model.side)[1] for j, q in enumerate(queries)]
    sizes = [len(p) for p in parts]
    x = np.concatenate(parts)
    booster = model.reranker.booster
    full = booster.predict(x)
    partial = booster.predict(x, num_iteration=10)
    keep = min(sizes) // 2
    plain = Reranker(booster, cascade_trees=0, cascade_keep=keep)
    np.testing.assert_allclose(plain.score(x, sizes), full, rtol=1e-5, atol=1e-6)
    # No query over `keep`: every candidate gets every tree, as the first 10 plus the rest.
    everyone = Reranker(booster, cascade_trees=10, cascade_keep=max(sizes)).score(x, sizes)
    np.testing.assert_allclose(everyone, full, rtol=1e-5, atol=1e-6)
    got = Reranker(booster, cascade_trees=10, cascade_keep=keep).score(x, sizes)
    lo = 0
    for size in sizes:
        seg = slice(lo, lo + size)
        kept = np.argsort(-partial[seg], kind="stable")[:keep]
        rest = np.setdiff1d(np.arange(size), kept)
        # The best `keep` by the first 10 trees get every tree; the rest rank below, in order.
        np.testing.assert_allclose(got[seg][kept], full[seg][kept], rtol=1e-5, atol=1e-5)
        assert got[seg][rest].max() < got[seg][kept].min()
        by_partial = got[seg][rest][np.argsort(-partial[seg][rest], kind="stable")]
        assert (np.diff(by_partial) <= 0).all()
        lo += size


def test_artist_cooccurrence_features_by_hand() -> None:
    # tracks 0-5; artists: {0, 1} -> 0, {2, 3} -> 1, {4, 5} -> 2
    inter = Interactions.from_lists([[0, 2], [1, 3], [0, 4], [2, 5]], n_tracks=6)
    artist = np.array([0, 0, 1, 1, 2, 2], dtype=np.int32)
    sim = hs.group_similarity(inter, artist, 10)
    # P(artist 1 | artist 0) = 2/3 (playlists 0, 1 of 0, 1, 2), P(2 | 0) = 1/3, P(2 | 1) = 1/3
    np.testing.assert_allclose(
        sim.toarray(), [[0, 2 / 3, 1 / 3], [2 / 3, 0, 1 / 3], [1 / 2, 1 / 2, 0]], rtol=1e-6
    )
    side = hs.Side.build(artist, np.arange(6), inter.track_counts, artist_similarity=sim)
    items = np.array([[[3, 5, -1]]], dtype=np.int32)
    lists = Lists(items, np.array([[[2.0, 1.0, np.nan]]], dtype=np.float32))
    cands, x = features(lists, 0, Query(seeds=np.array([0, 1, 2])), side)
    col = {name: Columns(["a"])[name] for name in SHARED}
    assert cands.tolist() == [3, 5]
    # seeds by artists 0, 0, 1: track 3 (artist 1) gets 2/3, 2/3, 0; track 5 (artist 2) 1/3 x 3
    np.testing.assert_allclose(x[:, col["artist_sim_mean"]], [4 / 9, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(x[:, col["artist_sim_max"]], [2 / 3, 1 / 3], rtol=1e-6)


def test_group_similarity_on_a_sample_of_playlists() -> None:
    rng = np.random.default_rng(2)
    lists = [rng.choice(30, size=6, replace=False).tolist() for _ in range(50)]
    inter = Interactions.from_lists(lists, n_tracks=30)
    group = np.arange(30) // 3
    full = hs.group_similarity(inter, group, 20)
    assert (hs.group_similarity(inter, group, 20, max_playlists=50) != full).nnz == 0
    sample = hs.group_similarity(inter, group, 20, max_playlists=20, seed=1)
    assert (sample != full).nnz > 0 and 0 < sample.max() <= 1.0
    assert (hs.group_similarity(inter, group, 20, max_playlists=20, seed=1) != sample).nnz == 0
    # every playlist alike: any sample sees the same probabilities
    same = Interactions.from_lists([[0, 3, 6]] * 40, n_tracks=9)
    a = hs.group_similarity(same, np.arange(9) // 3, 5, max_playlists=7, seed=4)
    np.testing.assert_allclose(a.toarray(), 1 - np.eye(3))


def test_album_step_features_by_hand() -> None:
    # Album 0 = tracks 0-4 played 9, 7, 5, 3, 1 times (ranks 0-4); album 1 = tracks 5-9.
    counts = np.array([9, 7, 5, 3, 1, 4, 4, 4, 4, 4], dtype=np.int64)
    side = hs.Side.build(np.arange(10) // 5, np.arange(10) // 5, counts)
    items = np.array([[[1, 3, 4, 8]]], dtype=np.int32)
    scores = np.array([[[4.0, 3.0, 2.0, 1.0]]], dtype=np.float32)
    names = feature_names(["a"])
    # A prefix ending in track 2 (rank 2): the next position is missing after it.
    _, x = features(Lists(items, scores), 0, Query(seeds=np.array([7, 2])), side)
    col = {n: x[:, i] for i, n in enumerate(names)}
    np.testing.assert_allclose(col["album_step_next"], [-1, 1, 2, np.nan])
    assert np.isnan(col["album_step_prev"]).all()  # a prefix has no gap before a seed


def test_validation_cuts_are_disjoint_and_each_cuts_only_its_own_playlists() -> None:
    world = clustered_world(400)
    cuts = list(validation_cuts(world, 40, seed=3, hide_first=20, max_share=0.2, folds=3))
    assert len(cuts) == 3
    _, first_cases = validation_cases(world, 40, 3, 20, 0.2)
    assert [c.row for c in cuts[0][1]] == [c.row for c in first_cases]  # cut 0 as before
    rows = [{c.row for c in cases} for _, cases in cuts]
    assert all(len(r) >= 40 for r in rows)
    assert len(set.union(*rows)) == sum(len(r) for r in rows)  # no playlist in two cuts
    inter = world.interactions
    for (stage, cases), own in zip(cuts, rows, strict=True):
        kept = {
            int(p): stage.interactions.playlist(i) for i, p in enumerate(stage.interactions.pids)
        }
        for case in cases:  # cut down to its seeds (a title-only case is dropped)
            remaining = kept.get(case.pid, np.array([], dtype=np.int32))
            assert np.array_equal(remaining, case.query.seeds)
        for row in set.union(*rows) - own:  # the other cuts' playlists are whole here
            assert np.array_equal(kept[int(inter.pids[row])], inter.playlist(row))


def test_validation_cuts_stop_when_the_playlists_run_out() -> None:
    world = clustered_world(100)
    cuts = list(validation_cuts(world, 40, seed=0, max_share=0.4, folds=5))
    assert 2 <= len(cuts) < 5
    rows = [c.row for _, cases in cuts for c in cases]
    assert len(rows) == len(set(rows))


def test_a_two_cut_ranker_learns_from_both_cuts_and_fits_deterministically() -> None:
    world = clustered_world(240, seed=11)
    settings = [*FAST, "generators=item-knn,popularity", "val_playlists=60", "n_estimators=20"]
    settings.append("folds=2")
    one = create("hybrid", [*settings[:-1], "folds=1"]).fit(world)
    two = create("hybrid", settings).fit(world)
    again = create("hybrid", settings).fit(world)
    report = two.report  # type: ignore[attr-defined]
    assert report["ranker_cases_cut0"] > 20 and report["ranker_cases_cut1"] > 20
    assert "ranker_cases_cut1" not in one.report  # type: ignore[attr-defined]
    # the first cut's cases are the one-cut model's; the ranker saw both cuts' groups
    assert report["ranker_cases_cut0"] == one.report["ranker_cases_cut0"]  # type: ignore[attr-defined]
    assert two.reranker.booster.num_trees() == 20  # type: ignore[attr-defined]
    queries = [Query(seeds=world.interactions.playlist(r)[:5]) for r in range(0, 240, 7)]
    a, b = two.recommend(queries, 40), again.recommend(queries, 40)
    np.testing.assert_array_equal(a.items, b.items)
    np.testing.assert_array_equal(a.scores, b.scores)
    c = one.recommend(queries, 40)
    assert not np.array_equal(a.scores, c.scores)  # more cases: another ranker


def test_folds_default_to_three_cuts_with_a_refit_and_one_without() -> None:
    assert create("hybrid").folds == 3  # type: ignore[attr-defined]
    assert create("hybrid", ["refit=false"]).folds == 1  # type: ignore[attr-defined]
    assert create("hybrid", ["refit=false", "folds=2"]).folds == 2  # type: ignore[attr-defined]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 7), max_size=8), max_size=8))
def test_transitions_count_every_adjacent_pair_within_a_playlist(playlists) -> None:
    inter = Interactions.from_lists(playlists, n_tracks=8)
    want = np.zeros((8, 8))
    for tracks in playlists:
        for a, b in itertools.pairwise(tracks):
            want[a, b] += a != b
    got = hs.transitions(inter)
    assert got.dtype == np.float32 and got.has_sorted_indices
    np.testing.assert_array_equal(got.toarray(), want)
    assert (got.data > 0).all()  # no stored zeros


# ------------------------------------------------------ data without artists, albums or titles
def blanked(world: TrainingData, artists: bool = True, albums: bool = True) -> TrainingData:
    """The world as own playlists without those fields hold it: -1 artists / albums, no titles."""
    inter = world.interactions
    titles = np.array([""] * inter.n_playlists, dtype=object)
    blank = Interactions(inter.indptr, inter.tracks, inter.n_tracks, titles, inter.pids)
    unknown = np.full(world.n_tracks, -1, dtype=np.int32)
    return TrainingData(
        blank,
        unknown if artists else world.track_artist,
        unknown if albums else world.track_album,
    )


def test_without_artists_albums_or_titles_those_features_are_left_out() -> None:
    world = blanked(clustered_world(240, seed=3))
    assert not (world.has("artist") or world.has("album") or world.has("title"))
    model = create("hybrid", [*FAST, "generators=item-knn,title,popularity,als"]).fit(world)
    assert model.generator_names == ("item-knn", "popularity", "als")  # no title generator
    assert model.title_model is None and model.artist_similarity is None
    assert model.side.album_mates(np.array([0, 1, 2])).size == 0
    queries = [Query(seeds=world.interactions.playlist(r)[:4]) for r in range(6)]
    lists = model.stage_one.generate(queries, 20)
    x = np.concatenate([features(lists, j, q, model.side)[1] for j, q in enumerate(queries)])
    col = Columns(model.generator_names)
    for name in ("artist_log_count", "album_share", "album_step_next", "artist_sim_mean"):
        assert np.isnan(x[:, col[name]]).all(), name
    for name in ("seed_artist_count", "seed_album_count", "last_artist", "album_prev"):
        assert (x[:, col[name]] == 0).all(), name  # an unknown artist matches nothing
    recs = model.recommend([*queries, Query(name="rock"), Query()], k=30)
    assert (recs.items >= 0).all()


def test_unknown_artists_match_nothing_where_others_are_known() -> None:
    artist = np.array([0, 0, -1, -1, 1, 1])
    side = hs.Side.build(artist, np.array([0, 0, 0, -1, -1, 1]), np.ones(6))
    items = np.array([[[1, 3, 5]]], dtype=np.int32)
    lists = Lists(items, np.array([[[3.0, 2.0, 1.0]]], dtype=np.float32))
    cands, x = features(lists, 0, Query(seeds=np.array([0, 2])), side)
    col = Columns(["a"])
    assert cands.tolist() == [1, 3, 5]
    np.testing.assert_allclose(x[:, col["seed_artist_count"]], [1, 0, 0])  # -1 is no artist
    np.testing.assert_allclose(x[:, col["seed_album_count"]], [2, 0, 0])
    assert np.isnan(x[1, col["album_share"]]) and np.isnan(x[1, col["artist_log_count"]])
    sim = hs.group_similarity(Interactions.from_lists([[0, 2, 4], [1, 3]], 6), artist, 5)
    assert sim.shape == (2, 2)  # tracks of no artist are in no group


def test_als_is_asked_for_the_pools_scores_only_and_a_save_keeps_that(tmp_path) -> None:
    """`als` scores chosen tracks (`scores_pairs`): the hybrid asks it for its top k and then for
    its scores of the pool's candidates, every one of them (a block held only its best
    `max_candidates`). The choice is saved with the model: a hybrid saved before it (no
    `pair_generators`) reads blocks as its ranker learned to."""
    from spotifier.models.hybrid.candidates import PairScorer

    world = clustered_world(300, seed=3)
    model = create("hybrid", ["generators=als,item-knn,popularity", *FAST[1:]]).fit(world)
    assert model.stage_one.pairs == ("als",)
    names = feature_names(model.generator_names)
    inter = world.interactions
    queries = model.known([Query(seeds=inter.playlist(r)[:4]) for r in range(12)])
    lists = model.stage_one.generate(queries, 5)
    assert isinstance(lists.blocks[0], PairScorer)
    cands = pool(lists, queries, model.side)
    x = collect(lists, queries, cands, model.side)
    als = model.stage_one.model("als")
    expected = als.score_pairs(queries, cands.rows, cands.items)
    np.testing.assert_allclose(x[:, names.index("als:score")], expected, rtol=1e-5)
    assert (x[:, names.index("als:rank")] > 5).any() and np.isfinite(expected).all()

    model.save(tmp_path)
    again = registry.load(tmp_path)
    assert again.stage_one.pairs == ("als",)
    np.testing.assert_array_equal(
        model.recommend(queries, 30).items, again.recommend(queries, 30).items
    )
    arrays = dict(np.load(tmp_path / "arrays.npz", allow_pickle=False))
    del arrays["pair_generators"]
    np.savez(tmp_path / "arrays.npz", **arrays)
    old = registry.load(tmp_path)
    assert old.stage_one.pairs == ()
    assert not isinstance(old.stage_one.generate(queries, 5).blocks[0], PairScorer)
