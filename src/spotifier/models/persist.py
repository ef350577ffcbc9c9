"""Train, save and load models in the home folder (`home/models/[<split>/]<name>/`).

A saved model is `config.json` + `arrays.npz` (+ sub-folders for composite models) + `meta.json`
(data fingerprint, time, version). Writes go to a temporary folder renamed into place, so an
interrupted training never leaves a half-written model, and a fit that fails or scores anything
NaN or infinite never replaces the saved one.

The one "load the model or train it" policy lives here (`ensure_trained`, `load_chain`): a model
is trained (with a notice) when it is missing or stale, i.e. trained on another build of the
split than the current one. The CLI, the evaluation harness and the server all use it.
"""

from __future__ import annotations

import fcntl
import json
import math
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from spotifier.data import Catalog, Query, TrainingData
from spotifier.errors import DamagedModelError, NotFoundError, SpotifierError
from spotifier.home import Home, atomic_dir
from spotifier.models import registry
from spotifier.models.base import Recommender
from spotifier.models.chain import FallbackChain, chain_models
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


@dataclass
class Training:
    """The training data of a home (and split), loaded at most once, and only when needed."""

    home: Home
    split: str | None
    loaded: TrainingData | None = None

    @property
    def data(self) -> TrainingData:
        if self.loaded is None:
            self.loaded, _ = load_training(self.home, self.split)
        return self.loaded


class TrainingFailedError(SpotifierError):
    """A fit raised or produced unusable scores; the saved model (if any) was kept."""


def train(
    home: Home,
    name: str,
    split: str | None = None,
    overrides: list[str] | None = None,
    data: TrainingData | None = None,
) -> Recommender:
    """Fit model `name` and save it with its meta.json; returns the fitted model.

    Settings are checked before any data is read. A fit that raises, or whose scores on a few
    training playlists are NaN or infinite, stops here with one error and leaves the saved model
    as it was.
    """
    model = registry.create(name, overrides)
    if data is None:
        data, _ = load_training(home, split)
    started = time.perf_counter()
    try:
        model.fit(data)
        check_scores(model, data)
    except SpotifierError:
        raise
    except Exception as exc:
        raise TrainingFailedError(
            f"training '{name}' failed ({type(exc).__name__}: {exc}); "
            "the saved model, if any, is unchanged"
        ) from exc
    fit_seconds = time.perf_counter() - started
    save(home, model, split, data, fit_seconds)
    return model


def check_scores(model: Recommender, data: TrainingData, n: int = 4) -> None:
    """Score `n` training playlists (their first five tracks as seeds): any NaN or +inf score
    (or -inf among a sparse block's candidates) means a broken fit, and it is not saved."""
    inter = data.interactions
    rows = np.flatnonzero(np.diff(inter.indptr) > 0)
    rows = rows[np.linspace(0, len(rows) - 1, num=min(n, len(rows)), dtype=np.int64)]
    queries = [Query(seeds=inter.playlist(int(r))[:5]) for r in rows.tolist()]
    if not queries:
        return
    scores = model.score(queries)
    values = scores.data if sp.issparse(scores) else np.asarray(scores)
    bad = np.isnan(values) | (values == np.inf)
    if sp.issparse(scores):
        bad |= values == -np.inf
    if bad.any():
        raise TrainingFailedError(
            f"training '{model.name}' produced {int(bad.sum())} NaN or infinite scores for "
            f"{len(queries)} sample playlists; not saved (the saved model, if any, is "
            "unchanged): check its --set values"
        )


def save(
    home: Home, model: Recommender, split: str | None, data: TrainingData, fit_seconds: float
) -> Path:
    from spotifier import __version__

    target = home.model_dir(model.name, split)
    meta: dict[str, Any] = {
        "model": model.name,
        "split": split,
        "spotifier_version": __version__,
        # Milliseconds: the served model_version is trained_at + data fingerprint, and two fits of
        # a small model on the same data can finish within one second.
        "trained_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "fit_seconds": round(fit_seconds, 3),
        "data_fingerprint": data.fingerprint(),
        "n_playlists": data.interactions.n_playlists,
        "n_tracks": data.n_tracks,
    }
    # Figures a model measured while fitting (e.g. seed-ncf's held-out pair accuracy).
    if model.report:
        meta["report"] = {k: float(v) for k, v in model.report.items() if math.isfinite(v)}
    with _saving(target), atomic_dir(target) as tmp:
        model.save(tmp)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return target


@contextmanager
def _saving(target: Path) -> Iterator[None]:
    """Hold `target`'s save lock, and remove temporary folders a killed save left beside it.

    Every save of `target` holds the lock while its temporary folder exists, so any such
    folder found while holding it belongs to a save that died (`kill` during a save).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = target.parent / f".{target.name}.lock"
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        previous = target.with_name(f".{target.name}.old")
        if previous.is_dir() and not target.exists():
            previous.rename(target)  # killed between atomic_dir's two renames: the model is back
        for leftover in target.parent.glob(f".{target.name}.*"):
            if leftover != lock and leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
        yield


def _retrain_hint(name: str, split: str | None) -> str:
    return f"run `spotifier train {name}{f' --split {split}' if split else ''}` again"


def read_meta(home: Home, name: str, split: str | None = None) -> dict[str, Any]:
    """A saved model's meta.json (NotFoundError when it is not trained)."""
    path = home.model_dir(name, split) / "meta.json"
    if not path.exists():
        raise NotFoundError(f"model '{name}' is not trained (no {path})")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except PermissionError:
        raise
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DamagedModelError(path, "is not readable JSON", _retrain_hint(name, split)) from exc
    if not isinstance(meta, dict) or meta.get("model") != name:
        raise DamagedModelError(path, f"is not model '{name}''s meta", _retrain_hint(name, split))
    for key, kinds in _META_TYPES.items():
        if key in meta and (isinstance(meta[key], bool) or not isinstance(meta[key], kinds)):
            problem = f"has a {key} of the wrong type ({meta[key]!r})"
            raise DamagedModelError(path, problem, _retrain_hint(name, split))
    return meta


#: The meta.json fields read back (by evaluate, serve and the report) and their JSON types.
_META_TYPES: dict[str, type | tuple[type, ...]] = {
    "trained_at": str,
    "fit_seconds": (int, float),
    "data_fingerprint": str,
    "n_playlists": int,
    "n_tracks": int,
    "report": dict,
}


def load(home: Home, name: str, split: str | None = None) -> Recommender:
    """The saved model `name`; a damaged file is one error naming it and how to repair it."""
    path = home.model_dir(name, split)
    if not (path / "meta.json").exists():
        hint = f" --split {split}" if split else ""
        raise NotFoundError(f"model '{name}' is not trained; run: spotifier train {name}{hint}")
    read_meta(home, name, split)
    try:
        return registry.model_class(name).load(path)
    except DamagedModelError as exc:
        raise exc.with_hint(_retrain_hint(name, split)) from exc


def stale_reason(home: Home, name: str, split: str | None = None) -> str | None:
    """Why the saved model `name` no longer fits its training data, or None if it does.

    On a split: it was trained on another build of the split (a rebuilt split holds out other
    tracks, so evaluating an old model on it would leak). On the whole store a model older than
    the store is still served: tracks ingested after it are unknown tracks to it (CLI and API
    alike), and retraining is the user's call (`spotifier train NAME`).
    """
    meta = read_meta(home, name, split)
    if split is None:
        return None
    from spotifier import split as splits

    expected = splits.read_meta(home, split).get("training_fingerprint")
    if expected and meta.get("data_fingerprint") != expected:
        return f"was trained on an older build of split '{split}'"
    return None


def ensure_trained(
    home: Home,
    names: Sequence[str],
    split: str | None = None,
    data: TrainingData | Training | None = None,
) -> None:
    """Train (with a notice) every model the chains of `names` use that is missing or stale.

    Unknown names and missing extras fail before any work.
    """
    for name in names:
        registry.model_class(name)
    source = data if isinstance(data, Training) else Training(home, split, data)
    where = f" on split '{split}'" if split else ""
    for name in dict.fromkeys(part for n in names for part in chain_models(n)):
        if not (home.model_dir(name, split) / "meta.json").exists():
            note(f"[yellow]model '{name}' is not trained{where}; training it now[/]")
        else:
            reason = stale_reason(home, name, split)
            if reason is None:
                continue
            note(f"[yellow]model '{name}' {reason}; training it again[/]")
        train(home, name, split, data=source.data)


def load_chain(
    home: Home, name: str, split: str | None = None, data: TrainingData | Training | None = None
) -> FallbackChain:
    """The model wrapped in its fallback chain, each part trained first if missing or stale."""
    ensure_trained(home, [name], split, data)
    parts = [load(home, part, split) for part in chain_models(name)]
    return FallbackChain(parts[0], parts[1] if len(parts) > 1 else None)
