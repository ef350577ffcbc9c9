"""Saved models: damaged files are one error naming the file and the repair, a failed or broken fit
never replaces a saved model, killed saves leave nothing behind, and one load-or-train policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "data"))

from spotifier.data import Interactions, Query, TrainingData
from spotifier.errors import DamagedModelError, MissingExtraError, NotFoundError
from spotifier.home import Home
from spotifier.models import persist, registry
from spotifier.models.chain import FallbackChain, chain_models
from spotifier.models.item_knn import ItemKNN

HINT = "run `spotifier train item-knn` again"


@pytest.fixture
def home(tmp_path: Path, tiny_world: TrainingData) -> Home:
    home = Home(tmp_path / "home")
    persist.train(home, "item-knn", data=tiny_world)
    return home


def _model_file(home: Home, name: str) -> Path:
    return home.model_dir("item-knn") / name


def _damaged(home: Home) -> str:
    with pytest.raises(DamagedModelError) as info:
        persist.load(home, "item-knn")
    return str(info.value)


def test_a_saved_model_loads_and_answers(home: Home) -> None:
    model = persist.load(home, "item-knn")
    assert isinstance(model, ItemKNN)
    assert model.recommend([Query(seeds=[0, 1])], k=3).items.shape == (1, 3)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda p: p.write_bytes(b""), "arrays.npz is damaged"),
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "is damaged"),
        (lambda p: p.unlink(), "arrays.npz is missing"),
        (lambda p: p.write_bytes(os.urandom(2000)), "is damaged"),
    ],
    ids=["empty", "truncated", "missing", "garbage"],
)
def test_a_damaged_arrays_file_is_one_error_naming_it(home: Home, damage, expected) -> None:
    damage(_model_file(home, "arrays.npz"))
    message = _damaged(home)
    assert expected in message and message.endswith(HINT)
    assert str(_model_file(home, "arrays.npz")) in message


def _rewrite_arrays(home: Home, **changes: np.ndarray) -> None:
    path = _model_file(home, "arrays.npz")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays.update(changes)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]


def test_an_object_array_is_never_unpickled(home: Home) -> None:
    _rewrite_arrays(home, similarity__x=np.array([{"a": 1}], dtype=object))
    assert "holds Python objects" in _damaged(home)


def test_arrays_of_the_wrong_shape_fail_at_load_not_in_a_request(home: Home) -> None:
    _rewrite_arrays(home, **{"similarity.__csr_shape": np.array([5, 5], dtype=np.int64)})
    message = _damaged(home)
    assert "arrays.npz" in message and message.endswith(HINT)


def test_per_track_arrays_of_the_wrong_length_are_damage(home: Home) -> None:
    _rewrite_arrays(home, _popularity_order=np.arange(3, dtype=np.int32))
    assert "does not hold a item-knn model" in _damaged(home)


def _rewrite_json(path: Path, **changes: object) -> None:
    spec = json.loads(path.read_text())
    spec.update(changes)
    path.write_text(json.dumps(spec))


def test_a_config_value_of_the_wrong_type_names_the_file_and_field(home: Home) -> None:
    path = _model_file(home, "config.json")
    spec = json.loads(path.read_text())
    spec["config"]["neighbours"] = "200"
    path.write_text(json.dumps(spec))
    message = _damaged(home)
    assert "config.json has a bad setting (item-knn: neighbours='200'" in message
    assert message.endswith(HINT)


def test_a_config_naming_another_model_is_damage(home: Home) -> None:
    _rewrite_json(_model_file(home, "config.json"), model="als")
    assert "config.json names model 'als', not 'item-knn'" in _damaged(home)


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", '{"model": "als"}', "\x00\xff"])
def test_a_garbage_meta_json_is_damage(home: Home, text: str) -> None:
    _model_file(home, "meta.json").write_text(text, encoding="latin-1")
    message = _damaged(home)
    assert "meta.json" in message and message.endswith(HINT)


@pytest.mark.parametrize(
    "change", [{"fit_seconds": "fast"}, {"n_tracks": None}, {"data_fingerprint": 7}]
)
def test_a_meta_field_of_the_wrong_type_is_damage(home: Home, change: dict) -> None:
    _rewrite_json(_model_file(home, "meta.json"), **change)
    key = next(iter(change))
    assert f"meta.json has a {key} of the wrong type" in _damaged(home)


def test_a_damaged_sub_model_names_its_file(tmp_path: Path, tiny_world, monkeypatch) -> None:
    """seed-combined keeps its two parts in sub-folders; a broken part names its own file."""
    from spotifier.models import combined

    monkeypatch.setattr(combined.SeedNCF, "_fit", lambda self, data: None)
    monkeypatch.setattr(combined.SeedCombined, "_fit", lambda self, data: self.baseline.fit(data))
    model = registry.create("seed-combined").fit(tiny_world)
    model.baseline.save(tmp_path)  # only the baseline part matters here
    (tmp_path / "config.json").write_text(json.dumps({"model": "seed-combined", "config": {}}))
    (tmp_path / "baseline").mkdir()
    model.baseline.save(tmp_path / "baseline")
    (tmp_path / "baseline" / "arrays.npz").write_bytes(b"PK\x03\x04 cut")
    with pytest.raises(DamagedModelError, match=r"baseline/arrays.npz is damaged"):
        registry.load(tmp_path)


def test_a_garbage_config_json_is_damage(home: Home) -> None:
    _model_file(home, "config.json").write_text("not json")
    assert "config.json is not readable JSON" in _damaged(home)


def test_an_untrained_model_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="spotifier train item-knn"):
        persist.load(Home(tmp_path), "item-knn")


# ------------------------------------------------------------------ failed fits, killed saves
def _saved_bytes(home: Home) -> dict[str, bytes]:
    folder = home.model_dir("item-knn")
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_a_fit_that_raises_keeps_the_saved_model(home: Home, tiny_world, monkeypatch) -> None:
    before = _saved_bytes(home)

    def broken(self: ItemKNN, data: TrainingData) -> None:
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(ItemKNN, "_fit", broken)
    with pytest.raises(persist.TrainingFailedError, match="training 'item-knn' failed"):
        persist.train(home, "item-knn", data=tiny_world)
    assert _saved_bytes(home) == before


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_fit_with_non_finite_scores_is_not_saved(home: Home, tiny_world, monkeypatch, bad):
    before = _saved_bytes(home)
    fit = ItemKNN._fit

    def poisoned(self: ItemKNN, data: TrainingData) -> None:
        fit(self, data)
        self.similarity.data[:] = bad

    monkeypatch.setattr(ItemKNN, "_fit", poisoned)
    with pytest.raises(persist.TrainingFailedError, match="NaN or infinite scores"):
        persist.train(home, "item-knn", data=tiny_world)
    assert _saved_bytes(home) == before


def test_a_killed_save_leaves_no_temporary_folder_after_the_next(home: Home, tiny_world) -> None:
    models = home.model_dir("item-knn").parent
    leftover = models / ".item-knn.k1ll3d"
    leftover.mkdir()
    (leftover / "arrays.npz").write_bytes(b"half")
    other = models / ".als.k1ll3d"  # another model's save: not this save's business
    other.mkdir()
    persist.train(home, "item-knn", data=tiny_world)
    assert not leftover.exists() and other.exists()
    assert sorted(p.name for p in models.iterdir() if p.is_dir()) == [".als.k1ll3d", "item-knn"]


def test_a_save_killed_between_its_renames_gets_the_old_model_back(
    home: Home, tiny_world, monkeypatch
) -> None:
    """`kill -9` after atomic_dir moved the model aside and before it moved the new one in leaves
    only `.item-knn.old`: the next save puts it back before anything else, so that a failed
    save still leaves a model."""
    target = home.model_dir("item-knn")
    before = _saved_bytes(home)
    target.rename(target.with_name(".item-knn.old"))

    def broken(self: ItemKNN, path: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(ItemKNN, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        persist.save(home, ItemKNN().fit(tiny_world), None, tiny_world, 0.0)
    assert _saved_bytes(home) == before
    assert not target.with_name(".item-knn.old").exists()


# ------------------------------------------------------------------ registry and extras
def test_a_model_whose_extra_is_missing_is_listed_and_refused_before_work(monkeypatch) -> None:
    real = registry._installed
    monkeypatch.setattr(registry, "_installed", lambda m: m != "lightgbm" and real(m))
    assert "hybrid" not in registry.model_names()
    assert registry.unavailable() == {"hybrid": "models"}
    assert registry.describe()["hybrid"] == {"available": False, "extra": "models"}
    with pytest.raises(MissingExtraError, match=r"model 'hybrid' needs the 'lightgbm' package"):
        registry.create("hybrid")


def test_registry_load_dispatches_on_config_json(home: Home) -> None:
    assert isinstance(registry.load(home.model_dir("item-knn")), ItemKNN)


# ------------------------------------------------------------------ the fallback chain
def test_chain_models_is_the_one_title_rule() -> None:
    assert chain_models("item-knn") == ["item-knn", "title"]
    assert chain_models("title") == ["title"]
    assert chain_models("popularity") == ["popularity"]


def test_a_title_model_without_titles_is_left_out_of_the_chain(tiny_world) -> None:
    inter = tiny_world.interactions
    blank = Interactions(inter.indptr, inter.tracks, inter.n_tracks)
    data = TrainingData(blank, tiny_world.track_artist, tiny_world.track_album)
    title = registry.create("title").fit(data)
    assert not title.knows_titles
    chain = FallbackChain(registry.create("item-knn").fit(data), title)
    assert chain.title is None
    query = Query(name="rock")
    assert chain.route(query) == "model"
    items = chain.recommend([query, Query(seeds=[0])], k=4).items
    assert (items >= 0).all()  # the model (and its popularity back-fill) still answers
    with_titles = FallbackChain(registry.create("item-knn").fit(tiny_world), title)
    assert with_titles.title is None
    titled = registry.create("title").fit(tiny_world)
    assert FallbackChain(registry.create("item-knn").fit(tiny_world), titled).title is titled


# ------------------------------------------------------------------ the CLI, end to end
def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("SPOTIFIER_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "spotifier", "--home", str(home), "--quiet", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.mark.slow
def test_cli_bad_settings_and_damaged_files_are_one_line_each(tmp_path: Path) -> None:
    from mpd_fixtures import playlist, write_slice

    rng = np.random.default_rng(3)
    lists = [rng.choice(12 if i % 2 else 6, size=5, replace=False) + 6 * (i % 2) for i in range(60)]
    write_slice(tmp_path / "mpd", [playlist(i, t.tolist(), "rock") for i, t in enumerate(lists)])
    home = tmp_path / "home"
    assert _cli(home, "ingest", str(tmp_path / "mpd")).returncode == 0
    assert _cli(home, "train", "item-knn").returncode == 0
    saved = (home / "models" / "item-knn" / "arrays.npz").read_bytes()

    bad = _cli(home, "train", "item-knn", "--set", "neighbours=0")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "error: item-knn: neighbours=0 is not allowed; neighbours must be an integer >= 1"
    ]
    assert (home / "models" / "item-knn" / "arrays.npz").read_bytes() == saved

    wrong_type = _cli(home, "train", "als", "--set", "factors=many")
    assert wrong_type.returncode == 2 and len(wrong_type.stderr.strip().splitlines()) == 1

    assert _cli(home, "train", "title").returncode == 0  # so the chain needs no training notice
    (home / "models" / "item-knn" / "arrays.npz").write_bytes(b"")
    empty = _cli(home, "recommend", "-m", "item-knn", "--track", "spotify:track:" + "0" * 22)
    assert empty.returncode == 6, empty.stderr
    (line,) = empty.stderr.strip().splitlines()
    assert "arrays.npz is damaged" in line and line.endswith(HINT)

    (home / "models" / "item-knn" / "meta.json").write_text("{garbage")
    garbage = _cli(home, "recommend", "-m", "item-knn", "--name", "rock")
    assert garbage.returncode == 6
    (line,) = garbage.stderr.strip().splitlines()
    assert "meta.json is not readable JSON" in line and "Traceback" not in garbage.stderr

    listing = _cli(home, "models", "item-knn")
    assert listing.returncode == 0 and "neighbours" in listing.stdout


# ------------------------------------------------------------------ one load-or-train policy
@pytest.mark.slow
def test_serve_retrains_models_of_an_older_split_build(tmp_path: Path, capsys) -> None:
    from spotifier.serve.service import ensure_trained
    from spotifier.serve.testing import build_home
    from spotifier.split import build_split, load_split

    home = build_home(tmp_path, 300, models=("popularity",))
    build_split(home, "s", n_playlists=20, seed=0)
    assert ensure_trained(home, ["item-knn"], "s") == ["item-knn"]
    first = persist.read_meta(home, "title", "s")["data_fingerprint"]
    capsys.readouterr()
    ensure_trained(home, ["item-knn"], "s")  # fresh: nothing to do
    assert "training" not in capsys.readouterr().err
    build_split(home, "s", n_playlists=20, seed=1)  # other playlists held out
    ensure_trained(home, ["item-knn"], "s")
    err = capsys.readouterr().err
    assert "model 'item-knn' was trained on an older build of split 's'" in err
    assert "model 'title' was trained on an older build of split 's'" in err
    expected = load_split(home, "s").meta["training_fingerprint"]
    for name in ("item-knn", "title"):
        assert persist.read_meta(home, name, "s")["data_fingerprint"] == expected != first

    assert persist.stale_reason(home, "popularity") is None  # the whole store: never stale
