"""The PyTorch plumbing the neural models share: threads, pairs, negatives, training, fold-in.

torch is imported lazily (`torch_module`), so importing the registry stays light, and thread
counts are set in that one place. Weights travel as numpy arrays (`arrays.npz`), never through
`torch.save` or pickle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from spotifier.progress import make_progress

if TYPE_CHECKING:  # pragma: no cover
    import torch

_configured = False


def torch_module() -> Any:
    """Import torch (or name the extra to install) and set its thread count once.

    One intra-op thread: these networks run many small operations, where OpenMP workers spin
    and contend; on a busy 2-core machine two threads made fold-in forty times slower (10 s vs
    0.23 s for a batch), while large products lose at most the second core.
    """
    global _configured
    from spotifier.errors import require

    torch: Any = require("torch", "neural")
    if not _configured:
        torch.set_num_threads(1)
        _configured = True
    return torch


def positive_pairs(matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """(playlist row, track) of every stored entry, in row order then track order."""
    csr = sp.csr_matrix(matrix)
    rows = np.repeat(np.arange(csr.shape[0], dtype=np.int64), np.diff(csr.indptr))
    return rows, csr.indices.astype(np.int64)


def sample_negatives(
    matrix: sp.csr_matrix,
    rows: np.ndarray,
    per_row: int,
    rng: np.random.Generator,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """`per_row` tracks for each entry of `rows` that its playlist does not contain.

    Uniform over tracks (or by `weights`), redrawn until the pair is absent from `matrix`, as the
    seed did; a handful of rounds suffices because playlists hold a tiny share of the catalogue.

    >>> m = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 1, 1]], dtype=np.float32))
    >>> neg = sample_negatives(m, np.array([0, 1]), 3, np.random.default_rng(0))
    >>> bool(np.isin(neg[0], [2, 3]).all() and np.isin(neg[1], [0, 1]).all())
    True
    """
    csr = sp.csr_matrix(matrix)
    n_tracks = csr.shape[1]
    rows = np.repeat(np.asarray(rows, dtype=np.int64), per_row)
    cdf = None if weights is None else np.cumsum(weights / weights.sum())

    def draw(n: int) -> np.ndarray:
        if cdf is None:
            return rng.integers(0, n_tracks, size=n)
        return np.minimum(np.searchsorted(cdf, rng.random(n)), n_tracks - 1)

    neg = draw(len(rows))
    stored = _pair_keys(csr)
    for _ in range(50):
        flat = rows * n_tracks + neg
        pos = np.minimum(np.searchsorted(stored, flat), max(len(stored) - 1, 0))
        bad = stored[pos] == flat if len(stored) else np.zeros(len(flat), dtype=bool)
        if not bad.any():
            break
        neg[bad] = draw(int(bad.sum()))
    return neg.reshape(-1, per_row) if per_row > 1 else neg


def _pair_keys(csr: sp.csr_matrix) -> np.ndarray:
    """row * n_cols + col of every stored entry, sorted (CSR with sorted indices is row-major)."""
    csr = csr.copy()
    csr.sort_indices()
    rows = np.repeat(np.arange(csr.shape[0], dtype=np.int64), np.diff(csr.indptr))
    keys: np.ndarray = rows * csr.shape[1] + csr.indices.astype(np.int64)
    return keys


def minibatches(n: int, batch: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Shuffled index batches covering 0..n-1 once."""
    order = rng.permutation(n)
    for start in range(0, n, batch):
        yield order[start : start + batch]


def run_epoch(
    step: Callable[[np.ndarray], float],
    n: int,
    batch: int,
    rng: np.random.Generator,
    description: str,
) -> float:
    """One pass over `n` samples in shuffled mini-batches; a progress bar shows the running loss."""
    total, seen = 0.0, 0
    with make_progress() as progress:
        task = progress.add_task(description, total=(n + batch - 1) // batch, extra="")
        for i, idx in enumerate(minibatches(n, batch, rng)):
            total += step(idx) * len(idx)
            seen += len(idx)
            if i % 20 == 0:
                progress.update(task, extra=f"loss {total / max(seen, 1):.4f}")
            progress.advance(task)
        progress.update(task, extra=f"loss {total / max(seen, 1):.4f}")
    return total / max(seen, 1)


def padded_seeds(seed_lists: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Seeds as a (batch, longest) index matrix plus a 0/1 mask (empty rows get one masked slot)."""
    width = max([1, *(len(s) for s in seed_lists)])
    items = np.zeros((len(seed_lists), width), dtype=np.int64)
    mask = np.zeros((len(seed_lists), width), dtype=np.float32)
    for i, seeds in enumerate(seed_lists):
        items[i, : len(seeds)] = seeds
        mask[i, : len(seeds)] = 1.0
    return items, mask


def fit_playlist_vectors(
    pair_logits: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    init: np.ndarray,
    seed_lists: list[np.ndarray],
    negatives: np.ndarray,
    steps: int,
    lr: float,
    reg: float,
) -> np.ndarray:
    """Fresh playlist vectors fitted to their seeds with every item-side weight frozen.

    Each row minimises its own loss: BCE of its seeds as positives and of a fixed, shared set of
    sampled `negatives` (drawn once at fit time), plus `reg`·‖u‖². The loss is a sum over rows and
    Adam is element-wise, so a row's result does not depend on the other rows of the batch (batch
    equals one-by-one) and is deterministic (no sampling at query time).
    `pair_logits(u (B, D), items (B, m)) -> (B, m)` scores playlist vectors against items.
    """
    torch = torch_module()
    items_np, mask_np = padded_seeds(seed_lists)
    items = torch.from_numpy(items_np)
    mask = torch.from_numpy(mask_np)
    counts = mask.sum(dim=1).clamp(min=1.0)
    neg = torch.from_numpy(np.asarray(negatives, dtype=np.int64)).expand(len(seed_lists), -1)
    user = torch.tensor(np.repeat(init[None, :], len(seed_lists), axis=0), requires_grad=True)
    opt = Adam([user], lr=lr)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    for _ in range(steps):
        opt.zero_grad()
        pos_logits = pair_logits(user, items)
        neg_logits = pair_logits(user, neg)
        pos_loss = (bce(pos_logits, torch.ones_like(pos_logits), reduction="none") * mask).sum(1)
        neg_loss = bce(neg_logits, torch.zeros_like(neg_logits), reduction="none").mean(1)
        loss = (pos_loss / counts + neg_loss + reg * (user * user).sum(1)).sum()
        loss.backward()
        opt.step()
    out: np.ndarray = user.detach().numpy().astype(np.float32)
    return out


class Adam:
    """Adam (Kingma & Ba), lazy on sparse gradients: only the rows a batch touched move.

    Written out rather than taken from `torch.optim`, whose first use imports torch's compiler
    stack (seconds of start-up in every process) for nothing these small models need.
    """

    def __init__(
        self,
        params: list[torch.Tensor],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-7,
    ) -> None:
        torch = torch_module()
        self.params = params
        self.moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
        self.lr, self.betas, self.eps, self.steps = lr, betas, eps, 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        torch = torch_module()
        self.steps += 1
        b1, b2 = self.betas
        c1, c2 = 1.0 - b1**self.steps, 1.0 - b2**self.steps
        with torch.no_grad():
            for p, (m, v) in zip(self.params, self.moments, strict=True):
                g = p.grad
                if g is None:
                    continue
                if g.is_sparse:
                    g = g.coalesce()
                    rows, values = g.indices()[0], g.values()
                    m_rows = m[rows] * b1 + values * (1.0 - b1)
                    v_rows = v[rows] * b2 + values * values * (1.0 - b2)
                    m[rows], v[rows] = m_rows, v_rows
                    p[rows] -= self.lr * (m_rows / c1) / ((v_rows / c2).sqrt() + self.eps)
                else:
                    m.mul_(b1).add_(g, alpha=1.0 - b1)
                    v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
                    p.addcdiv_(m / c1, (v / c2).sqrt().add_(self.eps), value=-self.lr)


def to_numpy(params: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {key: value.detach().cpu().numpy().astype(np.float32) for key, value in params.items()}
