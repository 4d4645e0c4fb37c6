"""The Shopee metric: mean over listings of the F1 between predicted and true match sets.

For listing i with predicted set P_i (at most 50 listings) and true set T_i (its group, i
itself included):

    F1_i = 2 |P_i ∩ T_i| / (|P_i| + |T_i|),   F1 = (1/n) Σ_i F1_i,

and likewise mean precision ``|P_i ∩ T_i| / |P_i|`` and recall ``|P_i ∩ T_i| / |T_i|`` (an
empty prediction scores 0). Example: T = {a, b}, P = {a, c}: F1 = 2·1/(2+2) = 0.5.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import scipy.sparse as sp

from .threshold import MAX_MATCHES


def listing_f1(predicted: Sequence[Hashable], truth: Sequence[Hashable]) -> float:
    """``F1_i`` of one listing (predictions beyond the first 50 are dropped, as in Shopee)."""
    p, t = set(list(predicted)[:MAX_MATCHES]), set(truth)
    if not t:
        raise ValueError("the true set must contain at least the listing itself")
    return 2 * len(p & t) / (len(p) + len(t))


def shopee_f1(
    predicted: Sequence[Sequence[Hashable]], truth: Sequence[Sequence[Hashable]]
) -> float:
    """Mean of :func:`listing_f1` over listings (lists of ids, aligned by position)."""
    if len(predicted) != len(truth):
        raise ValueError(f"{len(predicted)} predictions for {len(truth)} listings")
    if not truth:
        raise ValueError("no listings to score")
    return float(np.mean([listing_f1(p, t) for p, t in zip(predicted, truth, strict=True)]))


def match_scores(matches: sp.csr_matrix, groups: np.ndarray) -> dict[str, float]:
    """Mean F1, precision and recall of a match matrix against group labels (vectorised).

    ``groups[i]`` is listing i's ground-truth group; ``T_i = {j : groups[j] = groups[i]}``.
    """
    groups = np.asarray(groups)
    m = matches.tocsr()
    n = len(groups)
    if m.shape != (n, n):
        raise ValueError(f"matches has shape {m.shape}, expected ({n}, {n})")
    n_pred = np.diff(m.indptr)
    if n_pred.max(initial=0) > MAX_MATCHES:
        raise ValueError(f"a listing has more than {MAX_MATCHES} predictions; cap them first")
    rows = np.repeat(np.arange(n), n_pred)
    hits = np.bincount(rows, weights=groups[m.indices] == groups[rows], minlength=n)
    _, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    n_true = sizes[inverse]
    f1 = 2 * hits / (n_pred + n_true)
    precision = np.divide(hits, n_pred, out=np.zeros(n), where=n_pred > 0)
    return {
        "f1": float(f1.mean()),
        "precision": float(precision.mean()),
        "recall": float((hits / n_true).mean()),
    }


def matches_to_lists(matches: sp.csr_matrix) -> list[list[int]]:
    """Each row's predicted listings, best score first."""
    m = matches.tocsr()
    out = []
    for i in range(m.shape[0]):
        lo, hi = m.indptr[i], m.indptr[i + 1]
        c, v = m.indices[lo:hi], m.data[lo:hi]
        out.append([int(j) for j in c[np.lexsort((c, -v))]])
    return out
