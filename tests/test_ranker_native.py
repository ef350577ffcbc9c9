"""The hybrid's ranker compiled to native code: LightGBM's own scores, and the same lists; compiled
only in a process that asked for it (a server), or when the environment says so."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
from typer.testing import CliRunner

from spotifier.data import Interactions, Query, TrainingData
from spotifier.models import create, registry
from spotifier.models import ranker_native as rn

pytest.importorskip("lleaves")
lightgbm = pytest.importorskip("lightgbm")


def three_tastes(n_playlists: int = 300) -> TrainingData:
    """Playlists drawn from one of three 30-track tastes, titled by taste, head-heavy."""
    rng = np.random.default_rng(11)
    p = 1.0 / np.arange(1, 31)
    p /= p.sum()
    taste = np.arange(n_playlists) % 3
    playlists = [
        (30 * t + rng.choice(30, size=int(rng.integers(10, 25)), replace=False, p=p)).tolist()
        for t in taste
    ]
    titles = [["jazz", "metal", "focus"][t] for t in taste]
    inter = Interactions.from_lists(playlists, n_tracks=90, titles=titles)
    return TrainingData(inter, (np.arange(90) // 6).astype(np.int32), np.arange(90) // 3)


@pytest.fixture(autouse=True)
def plain_process(monkeypatch):
    """Each test starts as a plain process: no switch, no environment (both restored after)."""
    monkeypatch.setattr(rn, "_compile_on_load", False)
    monkeypatch.delenv("SPOTIFIER_NATIVE_RANKER", raising=False)


@pytest.fixture
def compiling(plain_process):
    """A process that asked to compile its rankers, as a server does."""
    rn.compile_on_load()


@pytest.fixture(scope="module")
def booster():
    """A small lambdarank model on features with NaNs, as the hybrid's are."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 12)).astype(np.float32)
    x[rng.random(x.shape) < 0.2] = np.nan
    y = (np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, 1]) + rng.normal(size=len(x)) > 1) * 2.0
    params = {"objective": "lambdarank", "num_leaves": 15, "verbose": -1, "num_threads": 1}
    return lightgbm.train(params, lightgbm.Dataset(x, y, group=[100] * 30), num_boost_round=40)


def rows(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 12)).astype(np.float32) * 2
    x[rng.random(x.shape) < 0.25] = np.nan
    return x


def test_compiled_spans_match_lightgbm_within_1e5(booster, compiling) -> None:
    ranker = rn.native_ranker(booster, [10], background=False)
    assert isinstance(ranker, rn.NativeRanker)
    assert set(ranker.spans) == {(0, 10), (10, 40)}  # the cascade's two calls, and only those
    for x in (rows(700, 1), rn.probe_rows(booster, 300, seed=9)):
        for kwargs in ({"num_iteration": 10}, {"start_iteration": 10, "num_iteration": 30}):
            ours = ranker.predict(x, num_threads=1, **kwargs)
            theirs = booster.predict(x, num_threads=1, **kwargs)
            assert np.max(np.abs(ours - theirs)) <= 1e-5
            assert np.array_equal(ours, theirs)  # summed in LightGBM's order: the same bits


def test_the_cascade_never_falls_back_to_lightgbm_once_compiled(booster, compiling) -> None:
    """Only the cascade's two spans are compiled, and the ranker asks for nothing else: also a
    batch whose queries all fit within `cascade_keep` (every tree for every candidate)."""
    from spotifier.models.hybrid.ranker import Reranker

    ranker = rn.native_ranker(booster, [10], background=False)
    asked: list[dict] = []
    real = ranker.booster

    class Spy:
        def __getattr__(self, name):
            return getattr(real, name)

        def predict(self, x, **kwargs):
            asked.append(kwargs)
            return real.predict(x, **kwargs)

    ranker.booster = Spy()
    x = rows(300, 7)
    for keep in (50, 300):  # cascaded, and everyone kept
        got = Reranker(ranker, cascade_trees=10, cascade_keep=keep).score(x, [120, 180])
        assert np.isfinite(got).all()
    assert asked == []
    kept = Reranker(ranker, cascade_trees=10, cascade_keep=300).score(x, [120, 180])
    np.testing.assert_allclose(kept, real.predict(x), rtol=1e-6, atol=1e-6)


def test_a_span_longer_than_a_cache_block_adds_the_blocks_sums(booster, monkeypatch) -> None:
    """Spans of more than BLOCK_TREES trees run in cache blocks: each block's sum is LightGBM's,
    the blocks' sums added in order, so the scores agree to float64 rounding, not to the bit."""
    monkeypatch.setattr(rn, "BLOCK_TREES", 8)
    compiled = rn.compile_span(booster, 10, 40)  # four blocks (8, 8, 8, 6 trees)
    for x in (rows(700, 4), rn.probe_rows(booster, 300, seed=5)):
        theirs = booster.predict(x, start_iteration=10, num_iteration=30, num_threads=1)
        ours = compiled.predict(x.astype(np.float64), n_jobs=1)
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_a_span_not_compiled_is_answered_by_lightgbm(booster) -> None:
    ranker = rn.NativeRanker(booster, [])  # nothing compiled (yet)
    x = rows(50, 2)
    got = ranker.predict(x, start_iteration=5, num_iteration=7)
    assert np.array_equal(got, booster.predict(x, start_iteration=5, num_iteration=7))
    assert ranker.num_feature() == 12 and ranker.current_iteration() == 40


def test_a_span_that_disagrees_with_lightgbm_is_not_used(booster, compiling, monkeypatch) -> None:
    class Off:
        def __init__(self, model) -> None:
            self.model = model

        def predict(self, x, n_jobs=1):
            return self.model.predict(x, n_jobs=n_jobs) + 1e-3

    real = rn.compile_span
    monkeypatch.setattr(rn, "compile_span", lambda *args: Off(real(*args)))
    ranker = rn.native_ranker(booster, [10], background=False)
    assert ranker.spans == {} and ranker.wait(0)


def ranker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "spotifier-ranker"]


def test_only_a_process_that_asks_compiles(booster, monkeypatch) -> None:
    assert rn.native_ranker(booster, [10]) is booster and ranker_threads() == []
    rn.compile_on_load()
    ranker = rn.native_ranker(booster, [10])
    assert isinstance(ranker, rn.NativeRanker) and ranker.wait(120)
    monkeypatch.setenv("SPOTIFIER_NATIVE_RANKER", "0")  # off everywhere, switch or not
    assert rn.native_ranker(booster, [10]) is booster
    rn.compile_on_load(False)
    monkeypatch.setenv("SPOTIFIER_NATIVE_RANKER", "1")  # on everywhere
    assert isinstance(rn.native_ranker(booster, [10], background=False), rn.NativeRanker)


class Counted:
    """A compiled span that counts the rows it scored."""

    def __init__(self, model) -> None:
        self.model, self.rows = model, 0

    def predict(self, x, n_jobs=1):
        self.rows += len(x)
        return self.model.predict(x, n_jobs=n_jobs)


def test_a_loaded_hybrid_gives_the_same_lists_with_compiled_trees(
    tmp_path, compiling, monkeypatch, small_hybrid
) -> None:
    world = three_tastes()
    model = create("hybrid", small_hybrid).fit(world)
    model.save(tmp_path)
    monkeypatch.setenv("SPOTIFIER_NATIVE_RANKER", "0")
    plain = registry.load(tmp_path)
    monkeypatch.delenv("SPOTIFIER_NATIVE_RANKER")
    # Whatever holds the booster, loading it goes through native_ranker: compile now, count use.
    made: list[rn.NativeRanker] = []
    real = rn.native_ranker

    def compiled_now(booster, cuts=(), background=True):
        ranker = real(booster, cuts, background=False)
        ranker.spans = {key: Counted(span) for key, span in ranker.spans.items()}
        made.append(ranker)
        return ranker

    monkeypatch.setattr(rn, "native_ranker", compiled_now)
    native = registry.load(tmp_path)
    assert len(made) == 1 and set(made[0].spans) == {(0, 10), (10, 40)}
    inter = world.interactions
    queries = [
        Query(seeds=inter.playlist(r)[:n].astype(np.int64), name=str(inter.titles[r]))
        for r, n in zip(range(0, 300, 5), itertools.cycle([1, 5, 10]), strict=False)
    ]
    want, got = plain.recommend(queries, k=30), native.recommend(queries, k=30)
    for i in range(len(queries)):
        assert np.array_equal(want.row(i)[0], got.row(i)[0])
        assert np.array_equal(want.row(i)[1], got.row(i)[1])
    # The cascade's two spans did the scoring: every candidate, then each query's best 20.
    spans = made[0].spans
    assert spans[(0, 10)].rows > spans[(10, 40)].rows > 0


def test_a_hybrid_loaded_in_a_plain_process_is_not_compiled(hybrid_home) -> None:
    from spotifier.models import persist

    hybrid = persist.load(hybrid_home, "hybrid")
    assert isinstance(hybrid.reranker.booster, lightgbm.Booster)
    assert ranker_threads() == []


@pytest.mark.parametrize("path", ["command", "worker"])
def test_spotifier_serve_compiles_the_rankers_it_loads(hybrid_home, path, monkeypatch) -> None:
    """`spotifier serve` in process (`run` captured instead of serving), and what each spawned
    worker runs (in a process that starts with the switch off)."""
    import threadpoolctl

    from spotifier import progress
    from spotifier.cli import app
    from spotifier.serve import run

    monkeypatch.setattr(progress, "_quiet", progress._quiet)  # restored after: serve sets it
    apps: list = []
    if path == "command":
        monkeypatch.setattr(run, "run", lambda app, *args, **kwargs: apps.append(app))
        args = ["--home", str(hybrid_home.root), "serve", "--model", "hybrid"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    else:
        monkeypatch.setattr(threadpoolctl, "threadpool_limits", lambda limits: None)  # BLAS as is
        apps.append(run._app({"home": str(hybrid_home.root), "models": ["hybrid"], "split": None}))
    (served,) = apps
    booster = served.state.service.models["hybrid"].chain.primary.reranker.booster
    assert isinstance(booster, rn.NativeRanker)
    assert booster.wait(300) and booster.spans  # compiled (a bound on the wait, not a timing)
    served.state.watcher.stop()


def test_a_cancelled_ranker_compiles_no_further_span(booster) -> None:
    ranker = rn.NativeRanker(booster, [(0, 10), (10, 40)])
    ranker.cancel()
    ranker.compile()
    assert ranker.spans == {} and ranker.wait(0)


def test_a_changed_cascade_compiles_its_own_spans_and_cancels_the_old(
    hybrid_home, compiling
) -> None:
    from spotifier.models import persist

    hybrid = persist.load(hybrid_home, "hybrid")
    old = hybrid.reranker.booster
    assert isinstance(old, rn.NativeRanker)
    hybrid.with_query_settings(["cascade_trees=5"])
    new = hybrid.reranker.booster
    assert old._cancelled.is_set() and new is not old
    assert new.wait(300) and set(new.spans) == {(0, 5), (5, 40)}
    hybrid.with_query_settings(["cascade_keep=30"])  # same trees: the same compiled ranker
    assert hybrid.reranker.booster is new and hybrid.reranker.cascade_keep == 30
