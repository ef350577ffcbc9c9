"""The followers study: the seed's regressions reproduced, then done right, on one store.

Protocol. The seed drew 10,000 playlists, split them 67/33 with `random_state=42` and reported R²
on both parts; `seed_sample` reproduces that. The improved models use up to `max_playlists`
playlists, the same kind of 67/33 split (hyperparameters chosen by cross-validation inside the 67%),
and are also scored by K-fold cross-validation over the whole sample (mean and standard deviation
across folds). Every model is scored on the raw and the log1p scale. On generated data the
generator's own expected follower count for each playlist gives the noise ceiling: no model of the
features can beat predicting that expectation (the `ceiling` row).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from spotifier.followers.features import RICH_FEATURES, FollowersTable, load_table
from spotifier.followers.metrics import scores
from spotifier.followers.models import (
    IMPROVED_MODELS,
    SEED_MODELS,
    SPLIT_SEED,
    FollowersModel,
    GBMLog,
)
from spotifier.home import Home, atomic_file
from spotifier.progress import track

RESIDUAL_POINTS = 3000


def split_rows(n: int, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """The seed's 67/33 split (scikit-learn's `train_test_split`, test_size 0.33)."""
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(np.arange(n), test_size=0.33, random_state=seed)
    return np.sort(train), np.sort(test)


def _evaluate(
    cls: type[FollowersModel], table: FollowersTable, cv_folds: int
) -> tuple[dict[str, Any], FollowersModel, np.ndarray, np.ndarray]:
    train, test = split_rows(len(table))
    tr, te = table.take(train), table.take(test)
    model = cls().fit(tr)
    s_train = scores(tr.followers, *model.predict(tr))
    test_raw, test_log = model.predict(te)
    s_test = scores(te.followers, test_raw, test_log)
    row = _score_row(
        cls.family, cls.description, len(train), len(test), s_train, s_test, model.params
    )
    if cv_folds >= 2 and cls.family != "seed":
        row["cv"] = _cross_validate(cls, table, cv_folds, model.params)
    return row, model, te.followers, test_raw


def _cross_validate(
    cls: type[FollowersModel], table: FollowersTable, folds: int, tuned: dict[str, Any]
) -> dict[str, float]:
    """K-fold scores with the hyperparameters tuned on the 67% part (not re-searched per fold)."""
    from sklearn.model_selection import KFold

    per_fold: list[dict[str, float]] = []
    splitter = KFold(n_splits=folds, shuffle=True, random_state=SPLIT_SEED)
    for train, test in splitter.split(np.arange(len(table))):
        model = cls().fit(table.take(train), tuned or None)
        te = table.take(test)
        per_fold.append(scores(te.followers, *model.predict(te)))
    out: dict[str, float] = {"folds": folds}
    for key in per_fold[0]:
        values = np.array([f[key] for f in per_fold])
        out[key] = round(float(values.mean()), 6)
        out[f"{key}_std"] = round(float(values.std()), 6)
    return out


def ceiling(home: Home, table: FollowersTable) -> tuple[np.ndarray, np.ndarray] | None:
    """The generator's expected followers (raw, log1p) per playlist, on generated data only."""
    from spotifier import store
    from spotifier.followers.ceiling import ceiling_predictions

    root = store.source_root(home)
    if root is None:
        return None
    return ceiling_predictions(Path(root) / "truth", table)


def _ceiling_row(table: FollowersTable, raw: np.ndarray, log: np.ndarray) -> dict[str, Any]:
    train, test = split_rows(len(table))
    s_train = scores(table.followers[train], raw[train], log[train])
    s_test = scores(table.followers[test], raw[test], log[test])
    description = "the generator's expected followers (noise ceiling; not a model)"
    return _score_row("ceiling", description, len(train), len(test), s_train, s_test, {})


def _score_row(
    family: str,
    description: str,
    n_train: int,
    n_test: int,
    s_train: dict[str, Any],
    s_test: dict[str, Any],
    params: dict[str, Any],
) -> dict[str, Any]:
    """One row of the study's table: the documented keys, in one place."""
    return {
        "family": family,
        "description": description,
        "n_train": n_train,
        "n_test": n_test,
        "r2_train": s_train["r2"],
        "r2_test": s_test["r2"],
        "r2_log_train": s_train["r2_log"],
        "r2_log_test": s_test["r2_log"],
        "mae_test": s_test["mae"],
        "mae_log_test": s_test["mae_log"],
        "spearman_test": s_test["spearman"],
        "params": params,
    }


def _subsample(y: np.ndarray, pred: np.ndarray) -> dict[str, list[float]]:
    rng = np.random.default_rng(0)
    keep = rng.permutation(len(y))[:RESIDUAL_POINTS]
    return {"y": y[keep].round(4).tolist(), "pred": pred[keep].round(4).tolist()}


def run_study(
    home: Home,
    max_playlists: int | None = 200_000,
    seed_sample: int = 10_000,
    cv_folds: int = 5,
    sample_seed: int = 0,
) -> dict[str, Any]:
    """Run both studies on the store in `home`; returns the result (also saved by `save`)."""
    table = load_table(home, max_playlists, sample_seed)
    rng = np.random.default_rng(sample_seed)
    seed_rows = (
        np.sort(rng.choice(len(table), size=seed_sample, replace=False))
        if len(table) > seed_sample
        else np.arange(len(table))
    )
    seed_table = table.take(seed_rows)
    models: dict[str, Any] = {}
    predictions: dict[str, Any] = {}
    importance: dict[str, float] = {}
    plan = [(cls, seed_table) for cls in SEED_MODELS] + [(cls, table) for cls in IMPROVED_MODELS]
    for cls, data in track(plan, "followers study"):
        row, model, y_test, pred_test = _evaluate(cls, data, cv_folds)
        row["n_playlists"] = len(data)
        models[cls.name] = row
        if cls.name in ("linear", "gbm-log", "gbm-poisson", "ridge-log"):
            predictions[cls.name] = _subsample(y_test, pred_test)
        if isinstance(model, GBMLog):
            importance = model.importance(RICH_FEATURES)
    expected = ceiling(home, table)
    if expected is not None:
        models["ceiling"] = _ceiling_row(table, *expected)
        models["ceiling"]["n_playlists"] = len(table)
        _, test = split_rows(len(table))
        predictions["ceiling"] = _subsample(table.followers[test], expected[0][test])
    y = table.followers
    return {
        "n_playlists": len(table),
        "n_playlists_seed": len(seed_table),
        "split": {"test_size": 0.33, "random_state": SPLIT_SEED},
        "cv_folds": cv_folds,
        "target": {
            "mean": round(float(y.mean()), 4),
            "median": float(np.median(y)),
            "max": float(y.max()),
            "share_one": round(float(np.mean(y == 1)), 4),
        },
        "has_ceiling": expected is not None,
        "models": models,
        "importance": importance,
        "predictions": predictions,
    }


def results_path(home: Home) -> Path:
    return home.results_dir / "followers.json"


def save(home: Home, result: dict[str, Any]) -> Path:
    path = results_path(home)
    with atomic_file(path, "w") as fh:
        json.dump(result, fh, indent=1)
    return path


def load_result(home: Home) -> dict[str, Any] | None:
    path = results_path(home)
    if not path.exists():
        return None
    result: dict[str, Any] = json.loads(path.read_text())
    return result
