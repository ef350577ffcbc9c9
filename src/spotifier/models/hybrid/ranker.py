"""Stage two of the hybrid: the negative sampler and the reranker.

`NegativeSampler` picks which of a training case's candidates the ranker learns from; `Reranker`
wraps the LightGBM lambdarank model: trained on the sampled rows, it scores candidates at query
time with a tree cascade, and is saved in LightGBM's text format (no pickle).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spotifier.errors import InvalidInputError
from spotifier.progress import cpu_count

if TYPE_CHECKING:
    from spotifier.models.hybrid.config import HybridConfig


class NegativeSampler:
    """Every positive candidate of a case, and `negatives` of the others drawn at random (one
    seeded stream over every case of a fit, so a fit is reproducible)."""

    def __init__(self, negatives: int, seed: int) -> None:
        self.negatives = negatives
        self.rng = np.random.default_rng(seed)

    def sample(self, label: np.ndarray) -> np.ndarray:
        """Row indices to keep for a case whose candidates are labelled `label` (bool)."""
        neg = np.flatnonzero(~label)
        return np.concatenate([np.flatnonzero(label), self.rng.permutation(neg)[: self.negatives]])


class Reranker:
    """A trained LightGBM lambdarank booster and its query-time cascade.

    With `cascade_trees`, every candidate gets the first that many trees and only each query's
    best `cascade_keep` by that partial score get the rest; the others keep their partial order
    below the kept ones (measured on validation cases: 50 of 300 trees and 600 kept change
    nothing in the challenge's 500-track lists' metrics).
    """

    def __init__(self, booster: Any, cascade_trees: int, cascade_keep: int) -> None:
        self.booster = booster
        self.cascade_trees = cascade_trees
        self.cascade_keep = cascade_keep

    @classmethod
    def train(
        cls,
        xs: Sequence[np.ndarray],
        ys: Sequence[np.ndarray],
        groups: Sequence[int],
        names: Sequence[str],
        cfg: HybridConfig,
    ) -> Reranker:
        import lightgbm

        params = {
            "objective": "lambdarank",
            "label_gain": [0.0, cfg.artist_gain, 1.0],
            "learning_rate": cfg.learning_rate,
            "num_leaves": cfg.num_leaves,
            "min_data_in_leaf": cfg.min_data_in_leaf,
            "feature_fraction": cfg.feature_fraction,
            "lambdarank_truncation_level": cfg.truncation,
            "seed": cfg.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": cpu_count(),
            "verbose": -1,
        }
        train = lightgbm.Dataset(
            np.concatenate(xs),
            np.concatenate(ys),
            group=list(groups),
            feature_name=[_safe(n) for n in names],
        )
        booster = lightgbm.train(params, train, num_boost_round=cfg.n_estimators)
        return cls(booster, cfg.cascade_trees, cfg.cascade_keep)

    @property
    def n_features(self) -> int:
        return int(self.booster.num_feature())

    def save(self, path: Path) -> None:
        self.booster.save_model(str(path))

    @classmethod
    def load(cls, path: Path, cascade_trees: int, cascade_keep: int) -> Reranker:
        import lightgbm

        from spotifier.models.ranker_native import native_ranker

        try:
            booster = lightgbm.Booster(model_file=str(path))
        except lightgbm.basic.LightGBMError as exc:
            raise InvalidInputError(f"{path}: not a LightGBM model ({exc})") from exc
        # Compiled trees (LightGBM's scores within 3.3e-15) once ready, in a process that asked
        # for them (a server: ranker_native.compile_on_load); LightGBM answers until then.
        return cls(native_ranker(booster, [cascade_trees]), cascade_trees, cascade_keep)

    def score(self, x: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
        """Scores for the stacked candidates of consecutive queries (`sizes` rows each)."""
        threads = cpu_count() if len(x) > 50_000 else 1  # one query: no pool
        total = int(self.booster.current_iteration())
        first, keep = self.cascade_trees, self.cascade_keep
        if first <= 0 or first >= total:
            return np.asarray(self.booster.predict(x, num_threads=threads), dtype=np.float32)
        # A query with at most `keep` candidates keeps them all: every tree, as partial + rest
        # (the two calls the cascade makes anyway, so only those two spans are ever compiled).
        partial = np.asarray(
            self.booster.predict(x, num_iteration=first, num_threads=threads), dtype=np.float64
        )
        spans = list(pairwise([0, *np.cumsum(sizes).tolist()]))
        kept: list[np.ndarray] = []
        for lo, hi in spans:
            if hi - lo > keep:
                # stable: among equal partial scores the earlier (lower) candidate is kept
                kept.append(lo + np.sort(np.argsort(-partial[lo:hi], kind="stable")[:keep]))
            else:
                kept.append(np.arange(lo, hi))
        sel = np.concatenate(kept)
        score = partial.copy()
        score[sel] += self.booster.predict(
            x[sel], start_iteration=first, num_iteration=total - first, num_threads=threads
        )
        is_kept = np.zeros(len(x), dtype=bool)
        is_kept[sel] = True
        for (lo, hi), top in zip(spans, kept, strict=True):
            rest = np.flatnonzero(~is_kept[lo:hi]) + lo
            if len(rest):
                score[rest] += score[top].min() - 1.0 - partial[rest].max()
        return score.astype(np.float32)


def _safe(name: str) -> str:
    return name.replace("-", "_").replace(":", "__")
