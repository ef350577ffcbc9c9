"""`rp3beta`: the random-walk item model with a popularity penalty (Paudel et al. 2017).

A three-step walk track → playlist → track gives `W_ij = Σ_u P(u|i)^alpha · P(j|u)^alpha`,
divided by `popularity_j^beta`; each track keeps its `neighbours` strongest successors. It was
the 2018 challenge's 4th-place team's strongest single model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from spotifier.data import TrainingData
from spotifier.models.base import ModelConfig
from spotifier.models.config import NonNegativeFloat, PositiveInt
from spotifier.models.item_knn import ItemItemModel
from spotifier.models.similarity import blocked_neighbours
from spotifier.progress import blas_threads


@dataclass(frozen=True)
class RP3BetaConfig(ModelConfig):
    """Settings of `rp3beta`. Defaults chosen on the default world (20,000 playlists, seed 0;
    260k mostly rare tracks): 892 seeded validation cases cut from 1,000 training playlists held
    out of the fit (`python bench/models_bench.py tune`, grid alpha 0.7/1.0 x beta 0/0.15/0.3)."""

    batch_size: PositiveInt = 512
    """Queries scored at once (one sparse product each batch; sparse rows are cheap)."""
    alpha: NonNegativeFloat = 0.7
    """Exponent on the walk's transition probabilities (1 = a plain random walk); 0.7 scored
    R-precision 0.099 against alpha 1's 0.082."""
    beta: NonNegativeFloat = 0.0
    """Popularity penalty: a target's probability is divided by popularity ** beta. 0.15 scored
    0.090 and 0.3 0.066; the literature's alpha 1, beta 0.5 scored 0.017, below popularity: on a
    long-tailed catalogue the penalty ranks one-off tracks first. Raise it for novel lists."""
    neighbours: PositiveInt = 200
    """Strongest successors kept per track."""


class RP3Beta(ItemItemModel):
    """Random walk with restart-free three steps, popularity-penalised."""

    name = "rp3beta"
    config_class = RP3BetaConfig
    config: RP3BetaConfig

    def _fit(self, data: TrainingData) -> None:
        cfg = self.config
        x = data.interactions.binary.astype(np.float32, copy=False)  # read only: no copy
        playlist_len = np.maximum(np.diff(x.indptr), 1).astype(np.float64)
        popularity = np.maximum(np.asarray(x.sum(axis=0)).ravel(), 1).astype(np.float64)
        # P(u|i)^alpha = (x_ui / pop_i)^alpha and P(j|u)^alpha = (x_uj / len_u)^alpha, binary x.
        walk_in = sp.csr_matrix(
            sp.csr_matrix(x.T) @ sp.diags(np.power(playlist_len, -cfg.alpha).astype(np.float32))
        )
        with blas_threads():
            self.similarity = blocked_neighbours(
                walk_in,
                x,
                cfg.neighbours,
                row_scale=np.power(popularity, -cfg.alpha).astype(np.float32),
                col_scale=np.power(popularity, -cfg.beta).astype(np.float32),
            )
