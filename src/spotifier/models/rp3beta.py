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
from spotifier.models.item_knn import ItemItemModel
from spotifier.models.similarity import blocked_neighbours
from spotifier.progress import blas_threads


@dataclass(frozen=True)
class RP3BetaConfig(ModelConfig):
    """Hyperparameters of `rp3beta`.

    alpha: exponent on the walk's transition probabilities (1 = plain random walk).
    beta: popularity penalty, the target's probability is divided by popularity ** beta.
    neighbours: successors kept per track.
    Defaults: on the default world (20,000 playlists, seed 0) the literature's beta = 0.5 scored
    R-precision 0.017 on 892 seeded validation cases, below popularity (0.028): with 260k
    mostly rare tracks a strong penalty ranks one-off tracks first. item-knn's damping showed the
    same (0: 0.093, 0.2: 0.081, 0.5: 0.046), so beta is set to a light 0.1
    (`python bench/models_bench.py tune` has the grid).
    """

    alpha: float = 1.0
    beta: float = 0.1
    neighbours: int = 200


class RP3Beta(ItemItemModel):
    """Random walk with restart-free three steps, popularity-penalised."""

    name = "rp3beta"
    config_class = RP3BetaConfig
    config: RP3BetaConfig

    def _fit(self, data: TrainingData) -> None:
        cfg = self.config
        x = data.interactions.binary.astype(np.float32)
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
