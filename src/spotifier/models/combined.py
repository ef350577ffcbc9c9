"""`seed-combined`: the seed's final system, the baseline's candidates ranked by the neural model.

Candidates are exactly `seed-baseline`'s pool (the tracks of the 5 most similar bank playlists
minus the query's; `SeedBaseline.ranked`, reused, not copied); instead of the baseline's random
order they are ranked by `seed-ncf`'s predicted probability. Popularity back-fills the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from spotifier.data import Query, TrainingData
from spotifier.models.base import ModelConfig, Recommender, Scores
from spotifier.models.neural import SeedNCF, SeedNCFConfig
from spotifier.models.seed_baseline import SeedBaseline, SeedBaselineConfig


@dataclass(frozen=True)
class SeedCombinedConfig(ModelConfig):
    """neighbours: the baseline's pool size; the rest configures the seed's network."""

    neighbours: int = 5
    latent: int = 10
    learning_rate: float = 0.001
    epochs: int = 5
    batch: int = 200


class SeedCombined(Recommender):
    """The baseline's candidate pool, ordered by the seed's neural interaction model."""

    name = "seed-combined"
    config_class = SeedCombinedConfig
    batch_size: ClassVar[int] = 64
    #: The baseline's per-query loop over the bank is slow on purpose; evaluate samples (`--sample`
    #: N asks for more).
    max_eval_queries: ClassVar[int] = 500
    config: SeedCombinedConfig

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self.baseline = SeedBaseline(SeedBaselineConfig(seed=cfg.seed, neighbours=cfg.neighbours))
        self.network = SeedNCF(
            SeedNCFConfig(
                seed=cfg.seed,
                latent=cfg.latent,
                learning_rate=cfg.learning_rate,
                epochs=cfg.epochs,
                batch=cfg.batch,
            )
        )

    def _fit(self, data: TrainingData) -> None:
        self.baseline.fit(data)
        self.network.fit(data)

    def _score(self, queries: Sequence[Query]) -> Scores:
        probabilities = np.asarray(self.network._score(queries))
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
        self.baseline = SeedBaseline.load(path / "baseline")  # type: ignore[assignment]
        self.network = SeedNCF.load(path / "network")  # type: ignore[assignment]

    def explain(self, query: Query, items: np.ndarray) -> list[str | None]:
        reasons = self.baseline.explain(query, items)
        return [None if r is None else f"{r}; ranked by the neural model" for r in reasons]

    @property
    def report(self) -> dict[str, Any]:
        return self.network.report
