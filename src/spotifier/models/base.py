"""The recommender contract, and the shared code every model relies on.

A model implements `_fit(data)` and `_score(queries)`; this base class does the rest once:
seeds are never returned, results are unique, top-k is `argpartition` then a stable sort (ties
broken by the lower track index), and short lists are back-filled by popularity so that `k`
is always filled when the catalogue allows. Persistence is `config.json` + `arrays.npz`
(`allow_pickle=False`).

Batch-first: `recommend(queries, k)` takes a sequence of `Query` and returns a
`Recommendations` block of shape (len(queries), k). Where fewer than `k` tracks exist besides the
seeds, the row is padded with item -1 and score NaN. Back-filled items carry score NaN too
("no opinion from the model").

For composite models (the hybrid): `score(queries)` gives a model's whole score block, and a
model that can score chosen tracks more cheaply than its block (`scores_pairs`, e.g. `als`) also
answers `score_pairs(queries, rows, items)`.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from spotifier.data import Query, TrainingData
from spotifier.errors import DamagedModelError, InvalidInputError, NotFoundError, SpotifierError
from spotifier.models.config import (
    ConfigError,
    ModelConfig,
    config_from_dict,
    parse_overrides,
    with_overrides,
)
from spotifier.models.topk import Scores, as_block, row_top_k

__all__ = [
    "ModelConfig",
    "Recommendations",
    "Recommender",
    "Scores",
    "config_from_dict",
    "parse_overrides",
]


@dataclass(frozen=True, eq=False)
class Recommendations:
    """items: int32 (n, k), -1 = padding; scores: float32 (n, k), NaN = back-fill or padding."""

    items: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.items)

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        keep = self.items[i] >= 0
        return self.items[i][keep], self.scores[i][keep]


class Recommender(ABC):
    """Base class of every model. Subclasses set `name`, `config_class`, `_fit`, `_score`."""

    name: ClassVar[str] = ""
    config_class: ClassVar[type[ModelConfig]] = ModelConfig
    #: True when the model answers zero-seed, titled queries itself (else the chain routes them).
    handles_titles: ClassVar[bool] = False
    #: True when `score_pairs` scores chosen (query, track) pairs cheaper than `score`'s block.
    scores_pairs: ClassVar[bool] = False
    #: A slow model is evaluated on a sample of at most this many queries (None: all of them).
    max_eval_queries: ClassVar[int | None] = None
    #: Settings read only at query time, which a fitted model may take new values for
    #: (`with_query_settings`; `spotifier serve --set MODEL.KEY=VALUE`). None by default.
    query_settings: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: ModelConfig | None = None) -> None:
        self.config = config if config is not None else self.config_class()
        if not isinstance(self.config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}")
        self.n_tracks = 0
        self.popularity_order = np.array([], dtype=np.int32)
        self.popularity_counts = np.array([], dtype=np.int64)
        #: Figures the model measured while fitting (kept in the saved model's meta.json).
        self.report: dict[str, float] = {}

    # ------------------------------------------------------------------ fitting
    def fit(self, data: TrainingData) -> Self:
        self.n_tracks = data.n_tracks
        counts = data.interactions.track_counts
        self.popularity_counts = counts.astype(np.int64)
        # Most frequent first; equal counts by lower index, so the order is deterministic.
        self.popularity_order = np.lexsort((np.arange(len(counts)), -counts)).astype(np.int32)
        self._fit(data)
        return self

    @abstractmethod
    def _fit(self, data: TrainingData) -> None:
        """Learn from the training playlists."""

    @abstractmethod
    def _score(self, queries: Sequence[Query]) -> Scores:
        """Scores for a batch of queries.

        Return either a dense float32 array (len(queries), n_tracks) where -inf (or NaN) means
        "not a candidate", or a CSR matrix of the same shape whose stored entries are the
        candidates. Seeds may be scored; the base class removes them.
        """

    def _score_top(self, queries: Sequence[Query], k: int) -> Scores:
        """`_score` for a caller that keeps only each row's top `k` once seeds are removed; a model
        may then leave out candidates that cannot make it (e.g. `als` prunes by a norm bound)."""
        return self._score(queries)

    @property
    def knows_titles(self) -> bool:
        """True when the model answers titled queries from titles it learned (a title model
        trained on data whose titles are all blank does not)."""
        return self.handles_titles

    @property
    def batch_size(self) -> int:
        """How many queries `_score` receives at once (a config setting, see `ModelConfig`)."""
        return self.config.batch_size

    @property
    def is_fitted(self) -> bool:
        return self.n_tracks > 0

    def with_query_settings(self, pairs: Sequence[str]) -> Self:
        """This fitted model answering with `key=value` settings changed, only those in
        `query_settings` (read and checked as training settings are); returns the model.

        Nothing is saved: the files keep the settings the model was trained with."""
        if not pairs:
            return self
        config = with_overrides(self.config, pairs, owner=self.name)  # unknown keys, bad values
        fixed = sorted({p.split("=", 1)[0].strip() for p in pairs} - self.query_settings)
        if fixed:
            allowed = ", ".join(sorted(self.query_settings)) or "none"
            raise InvalidInputError(
                f"{self.name}: {', '.join(fixed)} cannot change once the model is trained "
                f"(settings it takes at query time: {allowed})"
            )
        self.config = config
        self._query_settings_changed()
        return self

    def _query_settings_changed(self) -> None:
        """Rebuild what depends on the `query_settings` after `with_query_settings`."""

    # ----------------------------------------------------------------- the public contract
    def recommend(self, queries: Sequence[Query], k: int = 500) -> Recommendations:
        """Each query's top `k`, seeds left out, short lists back-filled by popularity."""
        return self.candidates(queries, k, backfill=True)

    def score(self, queries: Sequence[Query]) -> Scores:
        """This model's score rows for a batch: a dense float32 array (len(queries), n_tracks)
        where -inf or NaN means "not a candidate", or a CSR matrix of that shape whose stored
        entries are the candidates. Seeds may be scored. What a composite model reads when it
        wants a sub-model's opinion of tracks beyond the sub-model's own top k."""
        self._check_fitted()
        return as_block(self._score(self.known(queries)))

    def score_pairs(
        self, queries: Sequence[Query], rows: np.ndarray, items: np.ndarray
    ) -> np.ndarray:
        """Query `rows[i]`'s score for track `items[i]` (float32, NaN where the model has no
        opinion), for a composite model that needs this model's opinion of a few chosen tracks
        per query, not of the whole catalogue. Only models with `scores_pairs` have it."""
        raise NotImplementedError(f"model '{self.name}' scores whole blocks only (`score`)")

    def candidates(
        self,
        queries: Sequence[Query],
        k: int,
        backfill: bool = False,
        scores: Scores | None = None,
    ) -> Recommendations:
        """Each query's top `k` by this model's own scores, seeds left out (ties: the lower
        track index first). Without `backfill`, a row the model has fewer than `k` opinions for
        ends in -1 / NaN; with it, popularity fills the rest (score NaN). `scores`: this batch's
        `score(queries)` when the caller holds it already (it is not computed twice)."""
        self._check_fitted()
        if k < 1:
            raise InvalidInputError(f"k must be at least 1, got {k}")
        queries = self.known(queries)
        n = len(queries)
        items = np.full((n, k), -1, dtype=np.int32)
        values = np.full((n, k), np.nan, dtype=np.float32)
        step = n if scores is not None else self.batch_size
        for start in range(0, n, max(step, 1)):
            batch = queries[start : start + step]
            block = as_block(scores if scores is not None else self._score_top(batch, k))
            for j, query in enumerate(batch):
                row_items, row_scores = self._top_k(block, j, query, k, backfill)
                items[start + j, : len(row_items)] = row_items
                values[start + j, : len(row_scores)] = row_scores
        return Recommendations(items, values)

    def known(self, queries: Sequence[Query]) -> list[Query]:
        """The queries with every seed outside this model's catalogue dropped (unknown ids).

        The one place seeds are clipped to the valid range: `score`, `candidates` and
        `recommend` pass only known seeds to `_score`, so no model checks them again. Positions,
        when they match the seeds one to one, are dropped with their seeds.
        """
        out: list[Query] = []
        for query in queries:
            keep = self.known_mask(query.seeds)
            if keep.all():
                out.append(query)
                continue
            positions = query.positions
            if positions is not None and len(positions) == len(query.seeds):
                positions = np.asarray(positions)[keep]
            out.append(dataclasses.replace(query, seeds=query.seeds[keep], positions=positions))
        return out

    def known_mask(self, seeds: np.ndarray) -> np.ndarray:
        """True for each seed that indexes a track of this model's catalogue."""
        return (seeds >= 0) & (seeds < self.n_tracks)

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFoundError(f"model '{self.name}' is not fitted")

    def _top_k(
        self, block: Scores, j: int, query: Query, k: int, backfill: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Row `j` of a score block (from `_as_block`) turned into query `j`'s top k: the one
        top-k kernel every list goes through. `query` holds known seeds only."""
        seeds = np.unique(query.seeds)
        chosen, chosen_scores = row_top_k(block, j, seeds, k)
        need = k - len(chosen)
        if need > 0 and backfill:
            fill = self._backfill(np.concatenate([seeds, chosen]).astype(np.int64), need)
            chosen = np.concatenate([chosen, fill])
            chosen_scores = np.concatenate(
                [chosen_scores, np.full(len(fill), np.nan, dtype=np.float32)]
            )
        return chosen.astype(np.int32), chosen_scores.astype(np.float32)

    def _backfill(self, exclude: np.ndarray, need: int) -> np.ndarray:
        """The `need` most popular tracks not in `exclude`."""
        take = self.popularity_order[: need + len(exclude)]
        take = take[~np.isin(take, exclude)]
        return take[:need].astype(np.int64)

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path) -> None:
        """Write config.json and arrays.npz into `path` (which must exist)."""
        path = Path(path)
        config = {"model": self.name, "config": dataclasses.asdict(self.config)}
        (path / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        state = dict(self._state())
        state["_n_tracks"] = np.array([self.n_tracks], dtype=np.int64)
        state["_popularity_order"] = self.popularity_order
        state["_popularity_counts"] = self.popularity_counts
        with open(path / "arrays.npz", "wb") as fh:
            np.savez(fh, **pack_arrays(state))  # type: ignore[arg-type]
        self._save_extra(path)

    @classmethod
    def load(cls, path: Path) -> Self:
        """Load a model of this class saved by `save` (`registry.load` picks the class).

        Every way a saved model can be damaged (config.json or arrays.npz missing, truncated,
        of the wrong model, holding objects, of the wrong shape or type) is one
        `DamagedModelError` naming the file; nothing else escapes.
        """
        path = Path(path)
        config_file = path / "config.json"
        model = cls(_read_config(cls, config_file))
        arrays_file = path / "arrays.npz"
        arrays = _read_arrays(arrays_file)
        try:
            n_tracks = int(arrays.pop("_n_tracks")[0])
            model.popularity_order = _ints(arrays.pop("_popularity_order"), n_tracks)
            model.popularity_counts = _ints(arrays.pop("_popularity_counts"), n_tracks)
            model.n_tracks = n_tracks
            model._set_state(arrays)
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            problem = f"does not hold a {cls.name} model ({exc})"
            raise DamagedModelError(arrays_file, problem) from exc
        try:
            model._load_extra(path)
        except (SpotifierError, PermissionError, MemoryError):
            raise
        except Exception as exc:  # a sub-model's or ranker's own file, read by its library
            problem = f"holds a damaged part ({type(exc).__name__}: {exc})"
            raise DamagedModelError(path, problem) from exc
        model._verify(arrays_file)
        return model

    def _verify(self, arrays_file: Path) -> None:
        """Answer two tiny queries: arrays of the wrong shape or kind fail here, at load time,
        not in the middle of a request."""
        top = self.popularity_order[:1]
        try:
            self.recommend([Query(seeds=top), Query(name="a")], k=2)
        except (SpotifierError, MemoryError):
            raise
        except Exception as exc:
            raise DamagedModelError(
                arrays_file, f"does not fit a {self.name} model ({type(exc).__name__}: {exc})"
            ) from exc

    def _state(self) -> Mapping[str, np.ndarray | sp.spmatrix]:
        """The learned arrays to save (numeric or fixed-width string dtypes, or sparse)."""
        return {}

    def _set_state(self, arrays: dict[str, Any]) -> None:
        """Restore what `_state` returned."""

    def _save_extra(self, path: Path) -> None:
        """Hook for models that save sub-models or files beside arrays.npz."""

    def _load_extra(self, path: Path) -> None:
        """Hook mirroring `_save_extra`."""

    def candidate_recall(
        self, queries: Sequence[Query], truths: Sequence[np.ndarray]
    ) -> np.ndarray | None:
        """A two-stage model's stage-one recall per query (the share of `truths[i]` among query
        i's candidates); None for a model without stages."""
        return None

    # ------------------------------------------------------------------ explanation
    def explain(self, query: Query, items: np.ndarray) -> list[str | None]:
        """A short human reason per recommended item, where the model can say one."""
        return self._explain(self.known([query])[0], items)

    def _explain(self, query: Query, items: np.ndarray) -> list[str | None]:
        """`explain` for a query holding known seeds only."""
        return [None] * len(items)


# ---------------------------------------------------------------------- helpers
def pack_arrays(state: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Flatten sparse matrices into plain arrays so np.savez needs no pickle."""
    out: dict[str, np.ndarray] = {}
    for key, value in state.items():
        if sp.issparse(value):
            csr = sp.csr_matrix(value)
            out[f"{key}.__csr_data"] = csr.data
            out[f"{key}.__csr_indices"] = csr.indices
            out[f"{key}.__csr_indptr"] = csr.indptr
            out[f"{key}.__csr_shape"] = np.asarray(csr.shape, dtype=np.int64)
        else:
            array = np.asarray(value)
            if array.dtype == object:
                array = array.astype(str)
            out[key] = array
    return out


def unpack_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in arrays.items():
        if ".__csr_" in key:
            base, part = key.split(".__csr_")
            if part == "data":
                out[base] = sp.csr_matrix(
                    (
                        value,
                        arrays[f"{base}.__csr_indices"],
                        arrays[f"{base}.__csr_indptr"],
                    ),
                    shape=tuple(int(x) for x in arrays[f"{base}.__csr_shape"]),
                )
        else:
            out[key] = value
    return out


def read_config_file(config_file: Path) -> tuple[str, dict[str, Any]]:
    """(model name, settings) from a saved config.json, or DamagedModelError naming it."""
    if not config_file.exists():
        raise DamagedModelError(config_file, "is missing")
    try:
        spec = json.loads(config_file.read_text(encoding="utf-8"))
    except PermissionError:
        raise
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DamagedModelError(config_file, f"is not readable JSON ({exc})") from exc
    if (
        not isinstance(spec, dict)
        or not isinstance(spec.get("model"), str)
        or not isinstance(spec.get("config", {}), dict)
    ):
        raise DamagedModelError(config_file, "is not a Spotifier model config")
    return spec["model"], spec.get("config", {})


def _read_config(klass: type[Recommender], config_file: Path) -> ModelConfig:
    name, values = read_config_file(config_file)
    if name != klass.name:
        raise DamagedModelError(config_file, f"names model '{name}', not '{klass.name}'")
    try:
        return config_from_dict(klass.config_class, values)
    except ConfigError as exc:
        problem = f"has a bad setting ({exc.named(klass.name)})"
        raise DamagedModelError(config_file, problem) from exc
    except InvalidInputError as exc:
        raise DamagedModelError(config_file, f"has bad settings ({exc})") from exc


def _read_arrays(arrays_file: Path) -> dict[str, Any]:
    if not arrays_file.exists():
        raise DamagedModelError(arrays_file, "is missing")
    try:
        with open(arrays_file, "rb") as fh:
            if fh.read(4) != b"PK\x03\x04":  # np.load would try anything else as a pickle
                raise DamagedModelError(arrays_file, "is damaged (not an .npz archive)")
        with np.load(arrays_file, allow_pickle=False) as npz:
            return unpack_arrays({key: npz[key] for key in npz.files})
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DamagedModelError(arrays_file, "holds Python objects (never loaded)") from exc
        raise DamagedModelError(arrays_file, f"is damaged ({exc})") from exc
    except PermissionError:
        raise  # not damage: the file system's refusal (the CLI says so)
    except (OSError, EOFError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise DamagedModelError(arrays_file, f"is damaged ({type(exc).__name__}: {exc})") from exc


def _ints(values: Any, n: int) -> np.ndarray:
    """A saved per-track integer array, checked (length `n_tracks`)."""
    array = np.asarray(values)
    if array.shape != (n,) or array.dtype.kind not in "iu" or n < 1:
        raise ValueError(f"per-track array of shape {array.shape}, {array.dtype}; expected ({n},)")
    return array
