"""Train, save and load models in the home folder (`home/models/[<split>/]<name>/`).

A saved model is `config.json` + `arrays.npz` (+ sub-folders for composite models) + `meta.json`
(data fingerprint, time, version). Writes go to a temporary folder renamed into place, so an
interrupted training never leaves a half-written model.
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spotifier.data import Catalog, TrainingData
from spotifier.errors import NotFoundError
from spotifier.home import Home, atomic_dir
from spotifier.models import registry
from spotifier.models.base import Recommender
from spotifier.models.chain import FallbackChain
from spotifier.progress import note


def load_training(home: Home, split: str | None = None) -> tuple[TrainingData, Catalog]:
    """The training data for `split` (everything but its held-out tracks), or the whole store."""
    from spotifier import store

    catalog = store.load_catalog(home)
    if split is None:
        interactions = store.load_interactions(home)
    else:
        from spotifier import split as splits

        interactions = splits.load_training_interactions(home, split)
    return TrainingData.from_catalog(interactions, catalog), catalog


def train(
    home: Home,
    name: str,
    split: str | None = None,
    overrides: list[str] | None = None,
    data: TrainingData | None = None,
) -> Recommender:
    """Fit model `name` and save it with its meta.json; returns the fitted model."""
    model = registry.create(name, overrides)
    if data is None:
        data, _ = load_training(home, split)
    started = time.perf_counter()
    model.fit(data)
    fit_seconds = time.perf_counter() - started
    save(home, model, split, data, fit_seconds)
    return model


def save(
    home: Home, model: Recommender, split: str | None, data: TrainingData, fit_seconds: float
) -> Path:
    from spotifier import __version__

    target = home.model_dir(model.name, split)
    meta: dict[str, Any] = {
        "model": model.name,
        "split": split,
        "spotifier_version": __version__,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "fit_seconds": round(fit_seconds, 3),
        "data_fingerprint": data.fingerprint(),
        "n_playlists": data.interactions.n_playlists,
        "n_tracks": data.n_tracks,
    }
    # Figures a model measured while fitting (e.g. seed-ncf's held-out pair accuracy).
    report = getattr(model, "report", None)
    if isinstance(report, dict) and report:
        meta["report"] = {k: float(v) for k, v in report.items() if math.isfinite(float(v))}
    with atomic_dir(target) as tmp:
        model.save(tmp)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return target


def read_meta(home: Home, name: str, split: str | None = None) -> dict[str, Any]:
    path = home.model_dir(name, split) / "meta.json"
    if not path.exists():
        raise NotFoundError(f"model '{name}' is not trained (no {path})")
    meta: dict[str, Any] = json.loads(path.read_text())
    return meta


def load(home: Home, name: str, split: str | None = None) -> Recommender:
    path = home.model_dir(name, split)
    if not (path / "meta.json").exists():
        hint = f" --split {split}" if split else ""
        raise NotFoundError(f"model '{name}' is not trained; run: spotifier train {name}{hint}")
    return Recommender.load(path)


def get_or_train(
    home: Home, name: str, split: str | None = None, data: TrainingData | None = None
) -> Recommender:
    """Load a saved model, or train and save it first (with a notice)."""
    registry.model_class(name)  # unknown names fail before any work
    if (home.model_dir(name, split) / "meta.json").exists():
        return load(home, name, split)
    where = f" on split '{split}'" if split else ""
    note(f"[yellow]model '{name}' is not trained{where}; training it now[/]")
    return train(home, name, split, data=data)


def load_chain(
    home: Home, name: str, split: str | None = None, data: TrainingData | None = None
) -> FallbackChain:
    """The model wrapped in its fallback chain (title model for zero-seed titled queries)."""
    primary = get_or_train(home, name, split, data)
    title = None
    if not getattr(primary, "handles_titles", False) and "title" in registry.model_names():
        title = get_or_train(home, "title", split, data)
    return FallbackChain(primary, title)
