"""The followers study: the seed's four regressions, the improved ones, the generator's ceiling."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import polygamma
from typer.testing import CliRunner

from spotifier.cli import app
from spotifier.followers.ceiling import expected_log, expected_raw
from spotifier.followers.features import RICH_FEATURES, SEED_FEATURES, load_table
from spotifier.followers.metrics import scores
from spotifier.home import Home

SEED_NAMES = ("linear", "linear-onehot-artist", "lasso", "gbt")
IMPROVED_NAMES = ("mean", "ridge-log", "poisson-glm", "gbm-log", "gbm-poisson")
ROW_KEYS = (
    "r2_train",
    "r2_test",
    "r2_log_train",
    "r2_log_test",
    "mae_test",
    "mae_log_test",
    "spearman_test",
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """400 generated playlists ingested into a store (the real generate + ingest pipeline)."""
    from spotifier.store import ingest
    from spotifier.synth import generate

    root = tmp_path_factory.mktemp("followers")
    generate(root / "gen", 400, 2)
    home = Home(root / "home")
    ingest(home, root / "gen" / "data")
    return home


def test_features_match_the_store(world):
    from spotifier import store

    table = load_table(world)
    con = store.connect(world, read_only=True)
    expected = con.execute(
        "SELECT pid, num_followers, num_tracks, num_edits FROM playlists ORDER BY pid"
    ).fetchnumpy()
    con.close()
    assert table.pids.tolist() == expected["pid"].tolist()
    assert table.followers.tolist() == expected["num_followers"].astype(float).tolist()
    assert table.seed_x.shape == (len(table), len(SEED_FEATURES))
    assert table.rich_x.shape == (len(table), len(RICH_FEATURES))
    col = SEED_FEATURES.index("num_tracks")
    assert table.seed_x[:, col].tolist() == expected["num_tracks"].astype(float).tolist()
    assert np.isfinite(table.rich_x).all()
    # mean track duration in minutes times the length is the total duration
    minutes = table.seed_x[:, SEED_FEATURES.index("duration_min_mean")]
    total = table.seed_x[:, SEED_FEATURES.index("duration_ms")]
    assert np.allclose(minutes * 60000 * table.seed_x[:, col], total, rtol=1e-6)


def test_followers_json_has_documented_keys(world):
    runner = CliRunner()
    args = ["-q", "--home", str(world.root), "followers", "--json", "--folds", "2"]
    res = runner.invoke(app, [*args, "--seed-sample", "300"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    models = out["models"]
    for name in (*SEED_NAMES, *IMPROVED_NAMES):
        assert name in models, name
        for key in ROW_KEYS:
            assert isinstance(models[name][key], float), (name, key)
    assert models["linear"]["n_playlists"] == 300
    assert models["ridge-log"]["n_playlists"] == 400
    # the mean predicts the training mean: R² on its own training part is 0 by construction
    assert models["mean"]["r2_train"] == pytest.approx(0.0, abs=1e-9)
    # improved models are cross-validated; the seed's are not (it used one split)
    assert models["gbm-log"]["cv"]["folds"] == 2
    assert "cv" not in models["gbt"]
    # depth-10 trees on the one-hot design memorise the training part, as in the seed
    assert models["gbt"]["r2_train"] > models["gbt"]["r2_test"]
    # generated data: the generator's expected followers give the ceiling row
    assert out["has_ceiling"] is True
    assert models["ceiling"]["spearman_test"] > 0
    saved = json.loads((world.root / "results" / "followers.json").read_text())
    assert set(saved["models"]) == set(models)
    assert "predictions" in saved and "predictions" not in out


def test_scores_perfect_and_constant():
    y = np.array([1.0, 1.0, 2.0, 5.0, 40.0])
    assert scores(y, y) == {"r2": 1.0, "mae": 0.0, "spearman": 1.0, "r2_log": 1.0, "mae_log": 0.0}
    flat = scores(y, np.full(5, y.mean()))
    assert flat["r2"] == pytest.approx(0.0) and flat["spearman"] == 0.0


def test_trigamma_identity_gives_the_lomax_mean():
    # sum_k>=1 P(sX >= k) for X ~ Lomax(2): (1 + k/s)^-2 summed, against s^2 * trigamma(s + 1)
    for s in (0.3, 1.0, 4.0):
        k = np.arange(1, 2_000_001, dtype=np.float64)
        direct = np.sum((1 + k / s) ** -2.0) + s * s / 2_000_000  # + the integral of the tail
        assert s * s * float(polygamma(1, s + 1.0)) == pytest.approx(direct, rel=1e-4)


def test_ceiling_expectations_grow_with_eta():
    eta = np.linspace(-2.0, 2.0, 9)
    raw, log = expected_raw(eta), expected_log(eta, draws=4000)
    assert (np.diff(raw) > 0).all() and (raw >= 1.0).all()
    assert (np.diff(log) > 0).all() and (log >= np.log(2.0)).all()
    # Jensen: E[log1p y] <= log1p E[y]
    assert (log <= np.log1p(raw) + 1e-9).all()


def test_without_a_store_both_commands_name_what_is_missing(tmp_path):
    from spotifier.errors import NotFoundError

    runner = CliRunner()
    for command in ("followers", "report"):
        res = runner.invoke(app, ["-q", "--home", str(tmp_path / "empty"), command])
        assert isinstance(res.exception, NotFoundError), command
        assert "spotifier ingest" in str(res.exception)
