"""The noise ceiling of the followers study on generated data.

The generator (`spotifier.synth.generate`'s docstring) draws num_followers = 1 + floor(s·X) with
X ~ Lomax(alpha 2, scale 1) and log s = η + Normal(0, 0.4), where η is a known function of the
playlist (length, artists, collaborative, description, age, dominant taste). Knowing η exactly is
the best any model can do, so the ceiling predicts

- raw scale: E[y | η] = 1 + E_z[s² ψ₁(s + 1)] (because Σ_k≥1 (1 + k/s)^-2 = s² ψ₁(s + 1), the
  Lomax survival summed over the integers; the normal noise is integrated by Gauss–Hermite);
- log scale: E[log1p(y) | η] by Monte Carlo with a fixed seed.

The dominant taste comes from `truth/playlists.npz` (`taste_w`'s largest weight).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.special import polygamma

from spotifier.followers.features import RICH_FEATURES, FollowersTable

NOISE_SD = 0.4  # the Normal(0, 0.4) term of log s in the generator's docstring


def _eta(table: FollowersTable, dominant_effect: np.ndarray) -> np.ndarray:
    """The generator's log-scale follower scale without its noise term."""
    from spotifier.synth.playlist_fields import follower_log_scale

    x = table.seed_x
    collaborative, n_artists, lengths = x[:, 0], x[:, 3], np.maximum(x[:, 5], 1.0)
    has_description = table.rich_x[:, RICH_FEATURES.index("has_description")]
    features = follower_log_scale(
        lengths, n_artists, collaborative, has_description, table.modified_at
    )
    return np.asarray(features + dominant_effect)


def expected_raw(eta: np.ndarray, nodes: int = 32) -> np.ndarray:
    """E[1 + floor(s·X)] with log s = eta + Normal(0, NOISE_SD), X ~ Lomax(2).

    >>> float(np.round(expected_raw(np.array([-50.0]))[0], 6))  # s -> 0: always one follower
    1.0
    """
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    s = np.exp(eta[:, None] + NOISE_SD * z[None, :])
    inner = s**2 * polygamma(1, s + 1.0)
    return 1.0 + inner @ w


def expected_log(eta: np.ndarray, draws: int = 128, seed: int = 0) -> np.ndarray:
    """E[log1p(1 + floor(s·X))] by Monte Carlo (fixed seed), in chunks."""
    from spotifier.synth.playlist_fields import FOLLOWER_ALPHA

    rng = np.random.default_rng(seed)
    out = np.empty(len(eta))
    for start in range(0, len(eta), 20_000):
        e = eta[start : start + 20_000, None]
        s = np.exp(e + rng.normal(0.0, NOISE_SD, (len(e), draws)))
        u = 1.0 - rng.random((len(e), draws))
        y = 1.0 + np.floor(np.minimum(s * (u ** (-1.0 / FOLLOWER_ALPHA) - 1.0), 1e6))
        out[start : start + len(e)] = np.log1p(y).mean(axis=1)
    return out


def ceiling_predictions(
    truth_dir: Path, table: FollowersTable
) -> tuple[np.ndarray, np.ndarray] | None:
    """(E[y], E[log1p y]) for every playlist of `table`, or None when the truth does not fit."""
    playlists, meta_path = truth_dir / "playlists.npz", truth_dir / "meta.json"
    if not playlists.exists() or not meta_path.exists():
        return None
    try:
        from spotifier.synth.sampler import TASTE_FOLLOW
    except ImportError:
        return None
    tastes = json.loads(meta_path.read_text()).get("tastes", [])
    with np.load(playlists, allow_pickle=False) as arrays:
        pids = np.asarray(arrays["pid"], dtype=np.int64)
        taste_w = np.asarray(arrays["taste_w"])
    if taste_w.ndim != 2 or taste_w.shape[1] != len(tastes):
        return None
    order = np.argsort(pids)
    pos = np.searchsorted(pids[order], table.pids)
    pos = np.minimum(pos, len(pids) - 1)
    if not np.array_equal(pids[order][pos], table.pids):
        return None
    effect = np.array([TASTE_FOLLOW.get(t, 0.0) for t in tastes])
    dominant = np.argmax(taste_w[order][pos], axis=1)
    eta = _eta(table, effect[dominant])
    return expected_raw(eta), expected_log(eta)
