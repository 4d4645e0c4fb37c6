"""From token importances to group shares, and their agreement with the planted weights.

For one pair, with token importances ``a_t`` and token groups ``g(t)`` (padding: −1)::

    share_g = Σ_{t: g(t) = g} |a_t| / Σ_t |a_t|

(absolute values: a token that pushes the score down matters as much as one that pushes it up).
The shares averaged over pairs are a method's *group importances*; their agreement with the
planted weights is Spearman's ρ and Kendall's τ-b (``scipy.stats``, ties averaged), over the
groups.
"""

from __future__ import annotations

import numpy as np
import torch


def group_shares(importance: torch.Tensor | np.ndarray, groups: torch.Tensor | np.ndarray,
                 n_groups: int) -> np.ndarray:
    """``[B, n_groups]`` shares of ``|importance|`` ``[B, T]`` per group (module docstring);
    a row with no importance at all gets zeros."""
    a = np.abs(np.asarray(importance, dtype=np.float64))
    g = np.asarray(groups)
    out = np.zeros((a.shape[0], n_groups))
    for k in range(n_groups):
        out[:, k] = np.where(g == k, a, 0.0).sum(1)
    total = out.sum(1, keepdims=True)
    return np.divide(out, total, out=np.zeros_like(out), where=total > 0)


def rank_agreement(estimated: np.ndarray, planted: np.ndarray) -> dict[str, float]:
    """``{"spearman": ρ, "kendall": τ_b}`` between two importance vectors (NaN-free: a constant
    vector gives 0)."""
    from scipy.stats import kendalltau, spearmanr

    est, true = np.asarray(estimated, float), np.asarray(planted, float)
    if np.ptp(est) == 0 or np.ptp(true) == 0:
        return {"spearman": 0.0, "kendall": 0.0}
    return {"spearman": float(spearmanr(est, true).statistic),
            "kendall": float(kendalltau(est, true).statistic)}
