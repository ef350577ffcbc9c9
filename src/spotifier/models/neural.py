"""Neural interaction models: the seed's network (`seed-ncf`) and NCF done right (`ncf`).

Both learn a vector per training playlist and per track. A query is always a new playlist (the
contract never looks a training row up), so both FOLD IN: a fresh playlist vector is fitted to the
query's seeds by a few Adam steps with every item-side weight frozen
(`neural_train.fit_playlist_vectors`).
We chose gradient fold-in over an item-based encoder because it scores new playlists with exactly
the function the network was trained with, needs no second architecture, and costs a few
milliseconds per batch; zero-seed queries get no opinion (popularity back-fill, or the title
model through the fallback chain).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from spotifier.data import Query, TrainingData
from spotifier.models.base import ModelConfig, Recommender, Scores
from spotifier.models.config import (
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ShareFloat,
)
from spotifier.models.neural_net import NeuMFParams, SeedNetParams
from spotifier.models.neural_train import (
    fit_playlist_vectors,
    positive_pairs,
    run_epoch,
    sample_negatives,
    torch_module,
)
from spotifier.progress import note


class _FoldInModel(Recommender):
    """Shared query side: fold the seeds in, then score every track with the frozen item side."""

    net: Any

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__(config)
        self.fold_negatives = np.array([], dtype=np.int64)
        #: Tracks scored at query time (all, or those in at least `min_count` playlists).
        self.vocabulary = np.array([], dtype=np.int64)

    def _set_vocabulary(self, data: TrainingData, min_count: int) -> None:
        counts = data.interactions.track_counts
        self.vocabulary = np.flatnonzero(counts >= min_count).astype(np.int64)

    def _draw_fold_negatives(self, data: TrainingData, count: int) -> None:
        rng = np.random.default_rng(self.config.seed + 1)
        self.fold_negatives = rng.choice(
            data.n_tracks, size=min(count, data.n_tracks), replace=False
        ).astype(np.int64)

    def playlist_vectors(self, seed_lists: list[np.ndarray]) -> np.ndarray:
        cfg: Any = self.config
        torch = torch_module()
        with torch.no_grad():
            init = self.net.mean_user().numpy()
        return fit_playlist_vectors(
            self.net.pair_logits,
            init,
            seed_lists,
            self.fold_negatives,
            cfg.fold_in_steps,
            cfg.fold_in_lr,
            cfg.fold_in_reg,
        )

    def _score(self, queries: Sequence[Query]) -> Scores:
        torch = torch_module()
        out = np.full((len(queries), self.n_tracks), -np.inf, dtype=np.float32)
        seeds = [q.seeds for q in queries]
        rows = [i for i, s in enumerate(seeds) if len(s)]
        if not rows:
            return out
        users = self.playlist_vectors([seeds[i].astype(np.int64) for i in rows])
        vocab = self.vocabulary
        whole = len(vocab) == self.n_tracks
        with torch.no_grad():
            logits = self.net.score_all(
                torch.from_numpy(users), None if whole else torch.from_numpy(vocab)
            )
        probabilities = torch.sigmoid(logits).numpy()
        if whole:
            out[rows] = probabilities
        else:
            out[np.ix_(np.asarray(rows), vocab)] = probabilities
        return out

    def _state(self) -> Mapping[str, Any]:
        state: dict[str, Any] = {f"net.{k}": v for k, v in self.net.arrays().items()}
        state["fold_negatives"] = self.fold_negatives
        state["vocabulary"] = self.vocabulary
        state["report_keys"] = np.array(sorted(self.report), dtype=str)
        state["report_values"] = np.array([self.report[k] for k in sorted(self.report)])
        return state

    def _set_state(self, arrays: dict[str, Any]) -> None:
        self.fold_negatives = arrays["fold_negatives"].astype(np.int64)
        self.vocabulary = arrays["vocabulary"].astype(np.int64)
        self.report = {
            str(k): float(v)
            for k, v in zip(arrays["report_keys"], arrays["report_values"], strict=True)
        }
        weights = {k[4:]: v for k, v in arrays.items() if k.startswith("net.")}
        self.net = self._net_from_arrays(weights)

    def _net_from_arrays(self, weights: dict[str, np.ndarray]) -> Any:
        raise NotImplementedError


# ---------------------------------------------------------------------------------- seed-ncf
@dataclass(frozen=True)
class SeedNCFConfig(ModelConfig):
    """Settings of `seed-ncf`: the seed's network and training as published (latent, learning
    rate and epochs from its sweeps); the fold-in settings are ours."""

    batch_size: PositiveInt = 64
    """Queries folded in and scored at once (a dense block of batch x tracks floats)."""
    latent: PositiveInt = 10
    """Embedding size of a playlist and of a track (the seed's sweep chose 10)."""
    learning_rate: PositiveFloat = 0.001
    """Adam's step size (the seed's)."""
    epochs: PositiveInt = 5
    """Passes over the training pairs (the seed's)."""
    batch: PositiveInt = 200
    """Training pairs per gradient step (the seed's)."""
    negatives: PositiveInt = 1
    """Random absent tracks per positive pair (the seed drew one)."""
    test_share: ShareFloat = 0.1
    """The last share of playlists each lose their first (positive, negatives) pairs to the
    held-out test set whose accuracy is reported, as the seed did."""
    validation_split: ShareFloat = 0.2
    """Like Keras's: the last share of the remaining pairs is only scored, never trained on."""
    fold_in_steps: NonNegativeInt = 20
    """Adam steps fitting a new playlist's vector to its seeds (0 = the mean playlist)."""
    fold_in_lr: PositiveFloat = 0.1
    """Step size of the fold-in (large: a handful of steps from the mean playlist)."""
    fold_in_reg: NonNegativeFloat = 0.01
    """L2 pull of the folded-in vector toward the mean playlist (keeps one-seed queries sane)."""
    fold_in_negatives: PositiveInt = 200
    """Fixed random tracks used as the fold-in's negatives (drawn once at fit time)."""


class SeedNCF(_FoldInModel):
    """`seed-ncf`: embeddings ADDED, one sigmoid unit, binary cross-entropy (the seed's network).

    The sum has no playlist x track interaction: the logit is w·p + w·q + b, so within one
    playlist the ranking is the same learned per-track term for everyone (a learned popularity).
    Reproduced as published; `ncf` is the version that interacts. After fitting, the accuracy
    on held-out (playlist, track) pairs is printed and kept in `report` (the seed reached 0.75
    against a 0.5 floor).
    """

    name = "seed-ncf"
    config_class = SeedNCFConfig

    def _fit(self, data: TrainingData) -> None:
        cfg: SeedNCFConfig = self.config  # type: ignore[assignment]
        torch = torch_module()
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        matrix = data.interactions.binary
        n_rows = matrix.shape[0]
        rows, items = positive_pairs(matrix)
        negs = sample_negatives(matrix, rows, cfg.negatives, rng).reshape(len(rows), -1)
        # The seed's sample table: each positive followed by its negative(s), playlist by playlist.
        users = np.repeat(rows, 1 + cfg.negatives)
        tracks = np.column_stack([items, negs]).ravel()
        labels = np.tile(np.r_[1.0, np.zeros(cfg.negatives)], len(rows)).astype(np.float32)
        # Held-out test pairs: the first positive (+ its negatives) of the last test_share rows.
        first_test_row = n_rows - round(n_rows * cfg.test_share)
        starts = np.searchsorted(rows, np.arange(first_test_row, n_rows))
        has = starts < len(rows)
        test_idx = (
            starts[has][:, None] * (1 + cfg.negatives) + np.arange(1 + cfg.negatives)
        ).ravel()
        keep = np.ones(len(users), dtype=bool)
        keep[test_idx] = False
        train_idx = np.flatnonzero(keep)
        n_val = int(len(train_idx) * cfg.validation_split)
        fit_idx, val_idx = train_idx[: len(train_idx) - n_val], train_idx[len(train_idx) - n_val :]

        self.net = SeedNetParams.create(n_rows, data.n_tracks, cfg.latent)
        opt = self.net.optimizer(cfg.learning_rate)
        u_all, t_all = torch.from_numpy(users), torch.from_numpy(tracks)
        y_all = torch.from_numpy(labels)
        bce = torch.nn.functional.binary_cross_entropy_with_logits

        def step(batch: np.ndarray) -> float:
            sel = torch.from_numpy(fit_idx[batch])
            opt.zero_grad()
            loss = bce(self.net.logits(u_all[sel], t_all[sel]), y_all[sel])
            loss.backward()
            opt.step()
            return float(loss.detach())

        for epoch in range(cfg.epochs):
            run_epoch(step, len(fit_idx), cfg.batch, rng, f"seed-ncf epoch {epoch + 1}")

        def accuracy(idx: np.ndarray) -> float:
            if len(idx) == 0:
                return float("nan")
            sel = torch.from_numpy(idx)
            with torch.no_grad():
                pred = self.net.logits(u_all[sel], t_all[sel]) > 0
            return float((pred.numpy() == (labels[idx] > 0.5)).mean())

        self.report = {
            "train_accuracy": accuracy(fit_idx),
            "validation_accuracy": accuracy(val_idx),
            "test_accuracy": accuracy(test_idx),
            "test_floor": float(1.0 - labels[test_idx].mean()) if len(test_idx) else 0.5,
            "test_pairs": float(len(test_idx)),
        }
        self.net = self.net.frozen()
        self._set_vocabulary(data, 0)
        self._draw_fold_negatives(data, cfg.fold_in_negatives)
        note(
            f"seed-ncf held-out pair accuracy {self.report['test_accuracy']:.3f} "
            f"(floor {self.report['test_floor']:.2f}, {len(test_idx)} pairs; "
            f"train {self.report['train_accuracy']:.3f}; the seed reported 0.75)"
        )

    def _net_from_arrays(self, weights: dict[str, np.ndarray]) -> Any:
        return SeedNetParams.from_arrays(weights)


# ---------------------------------------------------------------------------------- ncf
@dataclass(frozen=True)
class NCFConfig(ModelConfig):
    """Settings of `ncf`, after He et al. (2017): pointwise log loss, Adam, early stopping on
    held-out training playlists. Defaults are sized for the demo's time budget on 2 CPU cores
    (about 5 µs per training sample: 3 epochs x 3 samples per positive over the default world's
    1.3M positives); He et al. used 4 negatives, batch 256 and more epochs."""

    batch_size: PositiveInt = 32
    """Queries folded in and scored at once (the MLP tower runs over batch x tracks pairs)."""
    arch: Literal["gmf", "mlp", "neumf"] = "neumf"
    """gmf (dot product), mlp (a tower over both vectors) or neumf (both, He et al.'s best)."""
    factors: PositiveInt = 32
    """Embedding size of the GMF part (and of the MLP's input vectors)."""
    mlp_layers: tuple[PositiveInt, ...] = (32, 16, 8)
    """Widths of the MLP tower's layers (a halving pyramid, as in the paper)."""
    negatives: PositiveInt = 2
    """Uniform random absent tracks per positive, redrawn each epoch."""
    learning_rate: PositiveFloat = 0.005
    """Adam's step size."""
    batch: PositiveInt = 4096
    """Positives per gradient step (large: one CPU step costs about the same up to here)."""
    epochs: PositiveInt = 3
    """Most passes over the positives (early stopping may end sooner)."""
    patience: NonNegativeInt = 0
    """Epochs without a better validation recall before stopping (the best epoch is kept)."""
    val_playlists: NonNegativeInt = 300
    """Training playlists held out of the fit to pick the epoch (first half folded in as seeds,
    recall@100 of the second half); at most a tenth of the eligible ones. 0 = no early stop."""
    fold_in_steps: NonNegativeInt = 30
    """Adam steps fitting a new playlist's vector to its seeds (0 = the mean playlist)."""
    fold_in_lr: PositiveFloat = 0.05
    """Step size of the fold-in."""
    fold_in_reg: NonNegativeFloat = 0.01
    """L2 pull of the folded-in vector toward the mean playlist."""
    fold_in_negatives: PositiveInt = 500
    """Fixed random tracks used as the fold-in's negatives (drawn once at fit time)."""
    min_count: NonNegativeInt = 2
    """Only tracks in at least this many training playlists are scored at query time: a track
    seen once has an embedding trained on one playlist, and the MLP's cost grows with them."""


class NCF(_FoldInModel):
    """`ncf`: GMF / NeuMF neural collaborative filtering, with fold-in of new playlists."""

    name = "ncf"
    config_class = NCFConfig

    def _fit(self, data: TrainingData) -> None:
        cfg: NCFConfig = self.config  # type: ignore[assignment]
        torch = torch_module()
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        matrix = data.interactions.binary
        lengths = np.diff(matrix.indptr)
        eligible = np.flatnonzero(lengths >= 4)
        n_val = min(cfg.val_playlists, len(eligible) // 10)
        val_rows = np.sort(rng.choice(eligible, size=n_val, replace=False))
        val_cases = [_half_split(data.interactions.playlist(int(r))) for r in val_rows]
        keep = np.ones(matrix.shape[0], dtype=np.float32)
        keep[val_rows] = 0.0
        train = sp.csr_matrix(sp.diags(keep) @ matrix)
        train.eliminate_zeros()
        rows, items = positive_pairs(train)
        self.net = NeuMFParams.create(
            train.shape[0], data.n_tracks, cfg.arch, cfg.factors, cfg.mlp_layers
        )
        self._draw_fold_negatives(data, cfg.fold_in_negatives)
        self._set_vocabulary(data, cfg.min_count)
        opt = self.net.optimizer(cfg.learning_rate)
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        per = 1 + cfg.negatives
        labels = torch.from_numpy(
            np.tile(np.r_[1.0, np.zeros(cfg.negatives)], 1).astype(np.float32)
        )
        best, best_score, bad_epochs, history = self.net.arrays(), -1.0, 0, []
        for epoch in range(cfg.epochs):
            negs = sample_negatives(train, rows, cfg.negatives, rng).reshape(len(rows), -1)
            users_t = torch.from_numpy(rows)
            pairs_t = torch.from_numpy(np.column_stack([items, negs]))

            def step(batch: np.ndarray, users_t: Any = users_t, pairs_t: Any = pairs_t) -> float:
                sel = torch.from_numpy(batch)
                u = self.net.user_vectors(users_t[sel])
                opt.zero_grad()
                logits = self.net.pair_logits(u, pairs_t[sel])
                loss = bce(logits, labels.expand(len(batch), per))
                loss.backward()
                opt.step()
                return float(loss.detach())

            loss = run_epoch(step, len(rows), cfg.batch, rng, f"ncf epoch {epoch + 1}")
            score = self._validation_recall(val_cases) if val_cases else float(epoch)
            history.append((loss, score))
            if score > best_score:
                best, best_score, bad_epochs = self.net.arrays(), score, 0
            else:
                bad_epochs += 1
                if bad_epochs > cfg.patience:
                    break
        self.net = NeuMFParams.from_arrays(best)  # frozen: no gradients
        self.report = {
            "epochs_run": float(len(history)),
            "best_val_recall100": best_score if val_cases else float("nan"),
        }
        if val_cases:
            note(
                f"ncf ({cfg.arch}): {len(history)} epochs, validation recall@100 per epoch "
                + ", ".join(f"{s:.3f}" for _, s in history)
            )

    def _validation_recall(self, cases: list[tuple[np.ndarray, np.ndarray]]) -> float:
        live, self.net = self.net, self.net.frozen()
        try:
            return self._recall_at_100(cases)
        finally:
            self.net = live

    def _recall_at_100(self, cases: list[tuple[np.ndarray, np.ndarray]]) -> float:
        recalls = []
        for start in range(0, len(cases), 64):
            chunk = cases[start : start + 64]
            scores = self._score([Query(seeds=s) for s, _ in chunk])
            for row, (seeds, hidden) in zip(scores, chunk, strict=True):
                row[seeds] = -np.inf
                # A catalogue of 100 tracks or fewer: every track is in the top 100.
                top = np.argpartition(-row, 100)[:100] if len(row) > 100 else np.arange(len(row))
                recalls.append(np.isin(hidden, top).mean())
        return float(np.mean(recalls))

    def _net_from_arrays(self, weights: dict[str, np.ndarray]) -> Any:
        return NeuMFParams.from_arrays(weights)


def _half_split(tracks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First half of a playlist as seeds, the other distinct tracks as what to find."""
    half = max(1, len(tracks) // 2)
    seeds = np.unique(tracks[:half]).astype(np.int64)
    hidden = np.setdiff1d(tracks[half:], seeds)
    return seeds, hidden
