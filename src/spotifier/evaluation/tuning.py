"""Hyperparameter sweeps on validation playlists cut from the training data (never held-out ones).

`sweep(home, model, grid)` fits the model once per grid point on the training data with the
validation playlists cut down to their seeds, recommends 500 tracks for each validation case and
averages the challenge metrics; the table is saved to `home/results/tune/<model>.json`.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from spotifier.errors import InvalidInputError
from spotifier.home import Home, atomic_file
from spotifier.models import registry
from spotifier.models.base import parse_overrides
from spotifier.models.chain import FallbackChain, chain_models
from spotifier.models.validation import validation_cases
from spotifier.progress import note

METRICS = ("r_precision", "ndcg", "clicks")


def parse_grid(pairs: Sequence[str]) -> dict[str, list[str]]:
    """`key=v1,v2` strings to {key: [v1, v2]}.

    >>> parse_grid(["latent=5,10", "epochs=3"])
    {'latent': ['5', '10'], 'epochs': ['3']}
    """
    grid: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, values = pair.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise InvalidInputError(f"--grid expects key=v1,v2,..., got '{pair}'")
        grid[key.strip()] = [v.strip() for v in values.split(",") if v.strip()]
    return grid


def grid_points(grid: Mapping[str, Sequence[str]]) -> list[dict[str, str]]:
    """Every combination, the first key varying slowest.

    >>> grid_points({"a": ["1", "2"], "b": ["x"]})
    [{'a': '1', 'b': 'x'}, {'a': '2', 'b': 'x'}]
    """
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def sweep(
    home: Home,
    model: str,
    grid: Mapping[str, Sequence[str]],
    split: str | None = None,
    playlists: int = 1000,
    seed: int = 0,
    fixed: Sequence[str] = (),
) -> dict[str, Any]:
    """Fit and score `model` at every grid point; returns and saves the result table."""
    from spotifier.evaluation.runner import recommend_cases, score_cases
    from spotifier.metrics import aggregate
    from spotifier.models.persist import load_training

    klass = registry.model_class(model)
    points = grid_points(grid)
    for point in points:  # every value must parse before any work starts
        overrides = [*fixed, *(f"{k}={v}" for k, v in point.items())]
        parse_overrides(klass.config_class, overrides, owner=model)
    data, catalog = load_training(home, split)
    stage, cases = validation_cases(data, playlists, seed)
    if not cases:
        raise InvalidInputError(
            f"too few training playlists ({data.interactions.n_playlists}) to cut validation cases"
        )
    title = None
    if "title" in chain_models(model):
        title = registry.create("title").fit(stage)
    rows = []
    for point in points:
        overrides = [*fixed, *(f"{k}={v}" for k, v in point.items())]
        note(f"tune {model}: {' '.join(overrides) or '(defaults)'}")
        started = time.perf_counter()
        fitted = registry.create(model, overrides).fit(stage)
        fit_seconds = time.perf_counter() - started
        items, rec_seconds = recommend_cases(FallbackChain(fitted, title), cases)
        overall, _ = aggregate(score_cases(cases, items, catalog.track_artist))
        row: dict[str, Any] = dict(point)
        row.update({key: overall[key] for key in METRICS})
        row["fit_seconds"] = round(fit_seconds, 2)
        row["recommend_seconds"] = round(rec_seconds, 2)
        row.update({k: v for k, v in fitted.report.items() if np.isfinite(v)})
        rows.append(row)
    best = max(rows, key=lambda r: (r["r_precision"], r["ndcg"]))
    result = {
        "model": model,
        "split": split,
        "grid": {k: list(v) for k, v in grid.items()},
        "fixed": list(fixed),
        "validation_playlists": len(cases),
        "seed": seed,
        "rows": rows,
        "best": {k: best[k] for k in grid},
    }
    target = home.results_dir / "tune" / f"{model}.json"
    with atomic_file(target, "w") as fh:
        fh.write(json.dumps(result, indent=2) + "\n")
    return result
