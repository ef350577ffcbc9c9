"""Query-time settings: a loaded model answering with settings other than its trained ones
(`Recommender.with_query_settings`, `spotifier serve --set MODEL.KEY=VALUE`)."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from spotifier.data import Query
from spotifier.errors import InvalidInputError
from spotifier.models import create, registry
from spotifier.models.config import ConfigError

pytest.importorskip("lightgbm")

LIGHT = ["candidates=8", "album_candidates=0", "cascade_trees=5", "cascade_keep=6"]


def queries(home, n: int = 40) -> list[Query]:
    from spotifier import store

    inter = store.load_interactions(home)
    rows = np.flatnonzero(inter.lengths() >= 12)[:n]
    return [Query(seeds=inter.playlist(r)[:10].astype(np.int64)) for r in rows]


def lists(model, qs: list[Query]) -> list[tuple[list[int], list[float]]]:
    recs = model.recommend(qs, k=30)
    return [(recs.row(i)[0].tolist(), recs.row(i)[1].tolist()) for i in range(len(qs))]


def test_a_loaded_hybrid_answers_with_query_settings_and_back(hybrid_home, small_hybrid) -> None:
    from spotifier.models import persist

    model = persist.load(hybrid_home, "hybrid")
    qs = queries(hybrid_home)
    trained = lists(model, qs)
    assert model.with_query_settings(LIGHT) is model
    assert (model.config.candidates, model.side.album_candidates) == (8, 0)
    assert (model.reranker.cascade_trees, model.reranker.cascade_keep) == (5, 6)
    assert model.config.n_estimators == 40  # the rest as trained
    light = lists(model, qs)
    assert light != trained  # fewer candidates, a shorter cascade: other lists
    model.with_query_settings([*small_hybrid[1:2], "album_candidates=200", *small_hybrid[-2:]])
    assert lists(model, qs) == trained  # the trained settings again: the trained lists
    assert lists(persist.load(hybrid_home, "hybrid"), qs) == trained  # nothing saved changed


def test_settings_fixed_at_training_are_refused_by_name() -> None:
    hybrid = create("hybrid")
    with pytest.raises(InvalidInputError, match="n_estimators cannot change") as err:
        hybrid.with_query_settings(["n_estimators=10", "candidates=10"])
    assert "cascade_keep" in str(err.value)  # says which settings it does take
    with pytest.raises(ConfigError, match="candidates"):
        hybrid.with_query_settings(["candidates=0"])
    with pytest.raises(InvalidInputError, match="at query time: none"):
        create("item-knn").with_query_settings(["neighbours=5"])
    with pytest.raises(InvalidInputError, match="unknown setting 'canddates'"):
        hybrid.with_query_settings(["canddates=10"])  # a typo is not called a fixed setting
    assert hybrid.config.candidates == 400  # nothing applied from a refused call


@pytest.mark.parametrize("name", registry.model_names())
def test_every_models_query_settings_are_its_own_settings(name: str) -> None:
    from spotifier.models.config import _specs

    klass = registry.model_class(name)
    assert klass.query_settings <= set(_specs(klass.config_class))
    model = klass()
    assert model.with_query_settings([]) is model


def test_serve_set_parses_and_checks_before_loading(hybrid_home, monkeypatch) -> None:
    from spotifier import progress
    from spotifier.cli import app
    from spotifier.serve import run

    monkeypatch.setattr(progress, "_quiet", progress._quiet)  # restored after: serve sets it
    apps: list = []
    monkeypatch.setattr(run, "run", lambda app, *args, **kwargs: apps.append(app))
    base = ["--home", str(hybrid_home.root), "serve", "--model", "hybrid"]
    for bad, says in [
        (["--set", "candidates=8"], "MODEL.KEY=VALUE"),
        (["--set", "item-knn.neighbours=5"], "item-knn is not served"),
        (["--set", "hybrid.n_estimators=5"], "n_estimators cannot change"),
        (["--set", "hybrid.candidates=-1"], "candidates"),
    ]:
        result = CliRunner().invoke(app, [*base, *bad])
        # one clear error, exit 2 (`spotifier.cli.main` maps the error to its exit code)
        assert isinstance(result.exception, InvalidInputError), result.output
        assert result.exception.exit_code == 2 and says in str(result.exception)
    assert apps == []
    sets = [arg for pair in LIGHT for arg in ("--set", f"hybrid.{pair}")]
    result = CliRunner().invoke(app, [*base, *sets])
    assert result.exit_code == 0, result.output
    (served,) = apps
    service = served.state.service
    try:
        assert service.models_info()[0]["settings"] == LIGHT
        assert service.models["hybrid"].chain.primary.config.candidates == 8
        assert service.settings == {"hybrid": tuple(LIGHT)}
    finally:
        served.state.watcher.stop()


def test_a_worker_and_a_reload_apply_the_settings_too(hybrid_home, monkeypatch) -> None:
    import threadpoolctl

    from spotifier import progress
    from spotifier.serve import run
    from spotifier.serve.reload import load_served

    monkeypatch.setattr(progress, "_quiet", progress._quiet)
    monkeypatch.setattr(threadpoolctl, "threadpool_limits", lambda limits: None)
    spec = {"home": str(hybrid_home.root), "models": ["hybrid"], "split": None}
    served = run._app({**spec, "settings": {"hybrid": LIGHT}})
    try:
        assert served.state.service.models["hybrid"].chain.primary.config.candidates == 8
    finally:
        served.state.watcher.stop()
    again = load_served(hybrid_home, "hybrid", None, settings=LIGHT)  # what a reload runs
    assert again.chain.primary.config.cascade_keep == 6 and again.settings == tuple(LIGHT)


def test_a_running_server_answers_with_its_settings_and_refuses_a_bad_one(
    hybrid_home, tmp_path
) -> None:
    """`spotifier serve --set` in a real process: /v1/models lists the settings and the
    continuations are the lighter hybrid's; a bad setting exits 2 before anything loads."""
    import subprocess
    import sys

    import httpx

    from spotifier import store
    from spotifier.models import persist
    from spotifier.serve.testing import serve_process

    sets = [arg for pair in LIGHT for arg in ("--set", f"hybrid.{pair}")]
    catalog = store.load_catalog(hybrid_home)
    seeds = queries(hybrid_home, 1)[0].seeds
    light = persist.load(hybrid_home, "hybrid").with_query_settings(LIGHT)
    want = light.recommend([Query(seeds=seeds)], k=20).row(0)[0]
    with serve_process(hybrid_home, ["--model", "hybrid", *sets], tmp_path / "s.log") as (_, url):
        (info,) = httpx.get(f"{url}/v1/models", timeout=30).json()["models"]
        assert info["settings"] == LIGHT
        body = {"tracks": catalog.track_uris[seeds].tolist(), "k": 20}
        got = httpx.post(f"{url}/v1/continuations", json=body, timeout=60).json()
        assert [item["uri"] for item in got["items"]] == catalog.track_uris[want].tolist()
    command = [sys.executable, "-m", "spotifier", "--home", str(hybrid_home.root), "serve"]
    bad = subprocess.run(
        [*command, "--model", "hybrid", "--set", "hybrid.num_leaves=7"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "num_leaves cannot change" in bad.stderr


def test_models_marks_the_settings_a_trained_model_takes_at_query_time() -> None:
    from spotifier.cli import app

    described = registry.describe("hybrid")["hybrid"]["settings"]
    assert {k for k, s in described.items() if s["query_time"]} == set(
        registry.model_class("hybrid").query_settings
    )
    result = CliRunner().invoke(app, ["models", "hybrid"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "candidates *" in result.output and "n_estimators *" not in result.output
    assert "spotifier serve --set hybrid.KEY=VALUE" in result.output
    plain = CliRunner().invoke(app, ["models", "item-knn"], env={"COLUMNS": "200"})
    assert " *" not in plain.output and "--set" not in plain.output


def test_a_hot_reload_serves_the_new_version_with_the_same_settings(hybrid_home, tmp_path) -> None:
    import json
    import shutil

    from spotifier.home import Home
    from spotifier.serve import Service
    from spotifier.serve.reload import Watcher

    home = Home(shutil.copytree(hybrid_home.root, tmp_path / "home"))
    service = Service.from_home(home, ["hybrid"], None, {"hybrid": LIGHT})
    watcher = Watcher(service, interval=0)
    meta = home.root / "models" / "hybrid" / "meta.json"  # a new version, as a retrain writes
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "trained_at": "2099-01-01"}))
    assert watcher.check() == ["hybrid"]
    served = service.models["hybrid"]
    assert served.version.startswith("2099-01-01") and served.settings == tuple(LIGHT)
    assert served.chain.primary.config.candidates == 8
