"""`seed-combined`: the seed's final system, the baseline's candidates ranked by the neural model.

Candidates are exactly `seed-baseline`'s pool (the tracks of the 5 most similar bank playlists
minus the query's; `SeedBaseline.ranked`, reused, not copied); instead of the baseline's random
order they are ranked by `seed-ncf`'s predicted probability. Popularity back-fills the rest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from spotifier.data import Query, TrainingData
from spotifier.models.base import ModelConfig, Recommender, Scores
from spotifier.models.config import PositiveInt
from spotifier.models.neural import SeedNCF, SeedNCFConfig
from spotifier.models.seed_baseline import SeedBaseline, SeedBaselineConfig


@dataclass(frozen=True)
class SeedCombinedConfig(SeedNCFConfig):
    """`seed-ncf`'s settings (the network, inherited: declared once, set by the same names) and
    the baseline's pool size."""

    neighbours: PositiveInt = 5
    """Most similar bank playlists pooled as candidates (the seed's 5, as in `seed-baseline`)."""


class SeedCombined(Recommender):
    """The baseline's candidate pool, ordered by the seed's neural interaction model."""

    name = "seed-combined"
    config_class = SeedCombinedConfig
    #: The baseline's per-query loop over the bank is slow on purpose; evaluate samples (`--sample`
    #: N asks for more).
    max_eval_queries: ClassVar[int] = 500
    config: SeedCombinedConfig

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self.baseline = SeedBaseline(SeedBaselineConfig(seed=cfg.seed, neighbours=cfg.neighbours))
        network = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(SeedNCFConfig)}
        self.network = SeedNCF(SeedNCFConfig(**network))

    def _fit(self, data: TrainingData) -> None:
        self.baseline.fit(data)
        self.network.fit(data)
        self.report = self.network.report

    def _score(self, queries: Sequence[Query]) -> Scores:
        probabilities = np.asarray(self.network.score(queries))
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        for i, query in enumerate(queries):
            pool = np.asarray(self.baseline.ranked(query), dtype=np.int64)
            rows.append(np.full(len(pool), i, dtype=np.int64))
            cols.append(pool)
        r = np.concatenate(rows) if rows else np.array([], dtype=np.int64)
        c = np.concatenate(cols) if cols else np.array([], dtype=np.int64)
        return sp.csr_matrix(
            (probabilities[r, c].astype(np.float32), (r, c)), shape=(len(queries), self.n_tracks)
        )

    def _save_extra(self, path: Path) -> None:
        for sub, model in (("baseline", self.baseline), ("network", self.network)):
            (path / sub).mkdir()
            model.save(path / sub)

    def _load_extra(self, path: Path) -> None:
        self.baseline = SeedBaseline.load(path / "baseline")
        self.network = SeedNCF.load(path / "network")
        self.report = self.network.report

    def _explain(self, query: Query, items: np.ndarray) -> list[str | None]:
        reasons = self.baseline.explain(query, items)
        return [None if r is None else f"{r}; ranked by the neural model" for r in reasons]
