"""Pair-level precision, recall and F1: the entity-resolution standard, beside the Shopee F1.

A match matrix ``M`` (rows: listings, self included) predicts the set of unordered
cross-listing pairs

    P = {{i, j} : i ≠ j, j ∈ M(i) or i ∈ M(j)}

(a pair found from either side counts once). The true pairs are all unordered pairs of
listings in the same group, ``T = {{i, j} : i ≠ j, g_i = g_j}``. Then

    precision = |P ∩ T| / |P|,   recall = |P ∩ T| / |T|,   F1 = 2 |P ∩ T| / (|P| + |T|),

with precision 0 when nothing is predicted. Predicting only the listing itself ("self-only")
gives ``P = ∅`` and so pair-level F1 0, while its Shopee F1 is high when most listings have no
partner — which is why thresholds tuned on the Shopee F1 can collapse to self-only.
Example: groups (0, 0, 1, 1), predicted pairs {0,1}, {1,2}: |P ∩ T| = 1, precision 1/2,
recall 1/2, F1 = 2·1/(2+2) = 0.5.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def predicted_pairs(matches: sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    """The unordered predicted pairs ``(i, j)`` with ``i < j`` of a match matrix (deduplicated)."""
    m = sp.coo_matrix(matches)
    i, j = m.row.astype(np.int64), m.col.astype(np.int64)
    off = i != j
    lo, hi = np.minimum(i[off], j[off]), np.maximum(i[off], j[off])
    n = max(matches.shape[0], 1)
    keys = np.unique(lo * n + hi)
    return keys // n, keys % n


def true_pair_count(groups: np.ndarray) -> int:
    """``|T| = Σ_g s_g (s_g − 1) / 2`` over group sizes ``s_g``."""
    _, sizes = np.unique(np.asarray(groups), return_counts=True)
    return int((sizes * (sizes - 1) // 2).sum())


def pair_scores(matches: sp.spmatrix, groups: np.ndarray) -> dict[str, float]:
    """Pair-level ``precision``, ``recall`` and ``f1`` (see the module docstring) plus counts."""
    groups = np.asarray(groups)
    n = len(groups)
    if matches.shape != (n, n):
        raise ValueError(f"matches has shape {matches.shape}, expected ({n}, {n})")
    i, j = predicted_pairs(matches)
    n_true = true_pair_count(groups)
    if n_true == 0:
        raise ValueError("no group has two listings: pair-level recall is undefined")
    hits = int((groups[i] == groups[j]).sum())
    n_pred = len(i)
    return {
        "f1": 2 * hits / (n_pred + n_true),
        "precision": hits / n_pred if n_pred else 0.0,
        "recall": hits / n_true,
        "predicted_pairs": n_pred,
        "true_pairs": n_true,
    }


def self_only(n: int) -> sp.csr_matrix:
    """The trivial matcher: every listing matches only itself (``M = I``)."""
    return sp.identity(n, dtype=np.float32, format="csr")


def per_listing_f1(matches: sp.spmatrix, groups: np.ndarray) -> np.ndarray:
    """Shopee ``F1_i = 2 |P_i ∩ T_i| / (|P_i| + |T_i|)`` of every listing (self included)."""
    groups = np.asarray(groups)
    m = sp.csr_matrix(matches)
    n_pred = np.diff(m.indptr)
    rows = np.repeat(np.arange(len(groups)), n_pred)
    hits = np.bincount(rows, weights=groups[m.indices] == groups[rows], minlength=len(groups))
    _, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    return 2 * hits / (n_pred + sizes[inverse])
