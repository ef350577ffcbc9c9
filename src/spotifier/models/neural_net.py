"""The two networks as plain weight tensors with pure scoring functions.

Keeping the weights as a dict of tensors (not an `nn.Module`) makes them trivially numpy arrays
for `arrays.npz` and lets this module be imported without importing torch. Training playlists'
vectors are not saved: a query is always folded in, starting from their mean (`user_mean`).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from spotifier.models.neural_train import Adam, torch_module


class _Params:
    def __init__(self, tensors: dict[str, Any]) -> None:
        self.t = tensors

    def parameters(self) -> list[Any]:
        return [v for k, v in self.t.items() if k != "user_mean"]

    def optimizer(self, lr: float) -> Adam:
        """Adam; the embedding tables get sparse gradients, so only the batch's rows move (lazy
        Adam): dense Adam moves every table row at every step, minutes per epoch on CPU."""
        return Adam(self.parameters(), lr=lr)

    def frozen(self) -> _Params:
        """A copy for querying: item side + mean playlist vector, no gradients."""
        return type(self).from_arrays(self.arrays())

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Any:
        torch = torch_module()
        return cls(
            {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in arrays.items()}
        )

    def mean_user(self) -> Any:
        if "user_mean" in self.t:
            return self.t["user_mean"]
        return self.t["P"].detach().mean(dim=0)

    def arrays(self) -> dict[str, np.ndarray]:
        """Item-side weights + the mean playlist vector (the fold-in start) as numpy arrays."""
        out = {k: v.detach().numpy().astype(np.float32).copy() for k, v in self.t.items()}
        if "P" in out:
            out["user_mean"] = out.pop("P").mean(axis=0)
        return out

    def user_vectors(self, idx: Any) -> Any:
        return _rows(self.t["P"], idx)


_TABLES = ("P", "Q", "Qg", "Qm")


def _rows(table: Any, idx: Any) -> Any:
    """Embedding lookup with sparse gradients (pairs with SparseAdam)."""
    torch = torch_module()
    return torch.nn.functional.embedding(idx, table, sparse=True)


class SeedNetParams(_Params):
    """logit = w · (p + q) + b: the seed's ADDED embeddings and single sigmoid unit."""

    @classmethod
    def create(cls, n_users: int, n_tracks: int, latent: int) -> SeedNetParams:
        torch = torch_module()
        # Keras defaults as in the seed: 'uniform' embeddings (±0.05), lecun_uniform kernel.
        limit = math.sqrt(3.0 / latent)
        tensors = {
            "P": torch.empty(n_users, latent).uniform_(-0.05, 0.05),
            "Q": torch.empty(n_tracks, latent).uniform_(-0.05, 0.05),
            "w": torch.empty(latent).uniform_(-limit, limit),
            "b": torch.zeros(1),
        }
        for value in tensors.values():
            value.requires_grad_(True)
        return cls(tensors)

    def logits(self, users: Any, tracks: Any) -> Any:
        t = self.t
        return (_rows(t["P"], users) + _rows(t["Q"], tracks)) @ t["w"] + t["b"]

    def pair_logits(self, u: Any, items: Any) -> Any:
        t = self.t
        return (u @ t["w"])[:, None] + _rows(t["Q"], items) @ t["w"] + t["b"]

    def score_all(self, u: Any, items: Any = None) -> Any:
        t = self.t
        q = t["Q"] if items is None else t["Q"][items]
        return (u @ t["w"])[:, None] + (q @ t["w"])[None, :] + t["b"]


class NeuMFParams(_Params):
    """GMF (p ⊙ q), MLP tower over [p; q], or both (NeuMF) feeding one output unit."""

    @classmethod
    def create(
        cls, n_users: int, n_tracks: int, arch: str, factors: int, layers: tuple[int, ...]
    ) -> NeuMFParams:
        torch = torch_module()
        tensors: dict[str, Any] = {}
        width = 0
        if arch in ("gmf", "neumf"):
            tensors["Pg"] = torch.randn(n_users, factors) * 0.01
            tensors["Qg"] = torch.randn(n_tracks, factors) * 0.01
            width += factors
        if arch in ("mlp", "neumf"):
            half = layers[0] // 2
            tensors["Pm"] = torch.randn(n_users, half) * 0.01
            tensors["Qm"] = torch.randn(n_tracks, half) * 0.01
            sizes = [2 * half, *layers[1:]]
            for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
                w = torch.empty(fan_out, fan_in)
                torch.nn.init.xavier_uniform_(w)
                tensors[f"W{i}"] = w
                tensors[f"b{i}"] = torch.zeros(fan_out)
            width += sizes[-1]
        limit = math.sqrt(3.0 / width)
        tensors["h"] = torch.empty(width).uniform_(-limit, limit)
        tensors["hb"] = torch.zeros(1)
        for value in tensors.values():
            value.requires_grad_(True)
        params = cls(tensors)
        # The user table is one matrix [Pg | Pm] for fold-in; training indexes both halves.
        params.t["P"] = torch.cat([tensors[k] for k in ("Pg", "Pm") if k in tensors], dim=1)
        params.t["P"] = params.t["P"].detach().requires_grad_(True)
        for key in ("Pg", "Pm"):
            params.t.pop(key, None)
        return params

    @property
    def _gmf(self) -> int:
        return int(self.t["Qg"].shape[1]) if "Qg" in self.t else 0

    @property
    def _layers(self) -> int:
        return sum(1 for k in self.t if k.startswith("W"))

    def pair_logits(self, u: Any, items: Any) -> Any:
        """u (B, D) against items (B, m) -> logits (B, m)."""
        torch = torch_module()
        t, f = self.t, self._gmf
        parts = []
        if f:
            parts.append(u[:, None, :f] * _rows(t["Qg"], items))
        if "Qm" in t:
            q = _rows(t["Qm"], items)
            x = torch.cat([u[:, None, f:].expand(-1, q.shape[1], -1), q], dim=-1)
            for i in range(self._layers):
                x = torch.relu(x @ t[f"W{i}"].T + t[f"b{i}"])
            parts.append(x)
        return torch.cat(parts, dim=-1) @ t["h"] + t["hb"]

    def score_all(self, u: Any, items: Any = None) -> Any:
        """u (B, D) against every track (or the `items` index tensor) -> (B, n), chunked."""
        torch = torch_module()
        t, f = self.t, self._gmf
        h = t["h"]
        out = None
        if f:
            qg = t["Qg"] if items is None else t["Qg"][items]
            out = (u[:, :f] * h[:f]) @ qg.T
        if "Qm" in t:
            w0 = t["W0"]
            half = t["Qm"].shape[1]
            user_part = u[:, f:] @ w0[:, :half].T + t["b0"]
            qm = t["Qm"] if items is None else t["Qm"][items]
            item_part = qm @ w0[:, half:].T
            n = item_part.shape[0]
            chunk = max(1, 4_000_000 // max(1, n * w0.shape[0]))
            blocks = []
            for s in range(0, u.shape[0], chunk):
                x = torch.relu(user_part[s : s + chunk, None, :] + item_part[None])
                for i in range(1, self._layers):
                    x = torch.relu(x @ t[f"W{i}"].T + t[f"b{i}"])
                blocks.append(x @ h[f:])
            mlp = torch.cat(blocks, dim=0)
            out = mlp if out is None else out + mlp
        return out + t["hb"]
