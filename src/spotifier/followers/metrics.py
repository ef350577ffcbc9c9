"""Regression scores on the raw and the log1p scale.

>>> y = np.array([1.0, 2.0, 3.0, 10.0])
>>> s = scores(y, y)
>>> s["r2"], s["mae"], s["spearman"], s["r2_log"]
(1.0, 0.0, 1.0, 1.0)
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination (1 is perfect, 0 is the mean, negative is worse than it).

    >>> r2(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0]))
    0.0
    """
    ss_res = float(np.sum((y - pred) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0


def spearman(y: np.ndarray, pred: np.ndarray) -> float:
    """Rank correlation; 0 when either side is constant."""
    if np.ptp(y) == 0 or np.ptp(pred) == 0:
        return 0.0
    return float(spearmanr(y, pred).statistic)


def scores(y: np.ndarray, pred: np.ndarray, pred_log: np.ndarray | None = None) -> dict[str, float]:
    """R², MAE and Spearman of raw-scale predictions; R² and MAE on the log1p scale.

    `pred_log` is the model's own log1p-scale prediction when it has one (a log-target model);
    otherwise log1p of the clipped raw prediction is scored.
    """
    pred = np.asarray(pred, dtype=np.float64)
    log_y = np.log1p(y)
    log_p = np.log1p(np.clip(pred, 0.0, None)) if pred_log is None else np.asarray(pred_log)
    return {
        "r2": round(r2(y, pred), 6),
        "mae": round(float(np.mean(np.abs(y - pred))), 6),
        "spearman": round(spearman(y, pred), 6),
        "r2_log": round(r2(log_y, log_p), 6),
        "mae_log": round(float(np.mean(np.abs(log_y - log_p))), 6),
    }
