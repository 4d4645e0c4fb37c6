"""From neighbours to match sets: distance thresholds, ``min2``, union and the 50-match cap.

A match set is stored as a CSR matrix ``M`` (n × n) whose explicit entries are the predicted
matches; ``M[i, j] = 1 + s_ij`` (the similarity shifted by one so that every stored entry is
positive; the listing itself has score :data:`SELF_SCORE` = 2.5, above any neighbour's).

* **Threshold.** j is a match of i when it is among i's k nearest neighbours and its cosine
  distance ``d_ij = 1 − s_ij`` is below ``t``; i itself is always a match. ``t ≤ 0`` accepts
  nothing else — not even exact duplicates whose rounded distance is −1e-7 — which is how a
  tuned union switches a view off.
* **min2.** Every Shopee listing has at least one true partner, so a set holding only the
  listing itself is certainly incomplete. With ``min2``, such a listing also gets its nearest
  other neighbour when ``d`` is below a *relaxed* threshold ``t₂ ≥ t`` (``t₂ = ∞`` accepts it
  unconditionally). This is our reading of the winners' rule "keep at least two matches by
  relaxing the threshold for the second neighbour" (the Shopee 1st-place write-up); the write-up itself was not
  available offline, and ``t₂`` is tuned on validation groups like any other threshold.
* **Union.** Matches from several embeddings (image, text, comb) are merged: j ∈ M(i) if any
  embedding accepts it; the stored score is the largest.
* **Cap.** The metric allows at most 50 predictions per listing; :func:`cap_matches` keeps the
  50 highest scores (the listing itself first).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from .knn import Neighbours

MAX_MATCHES = 50
SELF_SCORE = 2.5


def _csr(
    rows: np.ndarray, cols: np.ndarray, scores: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    m = sp.coo_matrix((scores.astype(np.float32), (rows, cols)), shape=shape).tocsr()
    m.sum_duplicates()  # duplicates cannot occur in kNN rows; kept for safety
    return m


def match_matrix(
    nb: Neighbours,
    threshold: float,
    min2: bool = False,
    relaxed: float = np.inf,
) -> sp.csr_matrix:
    """Matches of every listing: neighbours with ``1 − s_ij < threshold``, itself always.

    With ``min2``, a listing left with itself only also gets its nearest other neighbour if
    ``1 − s < relaxed`` (see the module docstring).
    """
    if not np.isfinite(threshold) and threshold != np.inf:
        raise ValueError(f"threshold must be a number, got {threshold}")
    if relaxed < threshold:
        raise ValueError(
            f"the relaxed threshold ({relaxed}) must be >= the threshold ({threshold})"
        )
    n = nb.n
    rows = np.repeat(np.arange(n), nb.k).reshape(n, nb.k)
    is_self = nb.index == rows
    keep = is_self | ((1.0 - nb.sim < threshold) & (threshold > 0))  # t <= 0: itself only
    if min2:
        others = ~is_self
        alone = ~(keep & others).any(axis=1)
        first_other = np.argmax(others, axis=1)  # column of the nearest other neighbour
        has_other = others.any(axis=1)
        dist = 1.0 - nb.sim[np.arange(n), first_other]
        add = alone & has_other & (dist < relaxed) & (relaxed > 0)
        keep[np.flatnonzero(add), first_other[add]] = True
    scores = np.where(is_self, SELF_SCORE, 1.0 + nb.sim)
    m = _csr(rows[keep], nb.index[keep], scores[keep], (n, n))
    # listings whose own row was not returned by the index (exact duplicates): add self
    missing = np.flatnonzero(~is_self.any(axis=1))
    if len(missing):
        m = m.maximum(_csr(missing, missing, np.full(len(missing), SELF_SCORE), (n, n))).tocsr()
    return m


def union(*matches: sp.csr_matrix) -> sp.csr_matrix:
    """Union of match sets (element-wise maximum of the scores)."""
    if not matches:
        raise ValueError("union needs at least one match matrix")
    out = matches[0].tocsr()
    for m in matches[1:]:
        if m.shape != out.shape:
            raise ValueError(f"match matrices differ in shape: {out.shape} vs {m.shape}")
        out = out.maximum(m).tocsr()
    return out


def cap_matches(m: sp.csr_matrix, cap: int = MAX_MATCHES) -> sp.csr_matrix:
    """Keep at most ``cap`` matches per row: the highest scores (ties: smaller column)."""
    m = m.tocsr()
    counts = np.diff(m.indptr)
    if counts.max(initial=0) <= cap:
        return m
    rows, cols, vals = [], [], []
    for i in np.flatnonzero(counts > 0):
        lo, hi = m.indptr[i], m.indptr[i + 1]
        c, v = m.indices[lo:hi], m.data[lo:hi]
        order = np.lexsort((c, -v))[:cap]
        rows.append(np.full(len(order), i))
        cols.append(c[order])
        vals.append(v[order])
    return _csr(np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), m.shape)


def predict(
    neighbours: Mapping[str, Neighbours],
    thresholds: Mapping[str, float],
    min2_view: str | None = None,
    relaxed: float = np.inf,
) -> sp.csr_matrix:
    """Union over the views in ``thresholds`` of their thresholded matches, then ``min2``, then cap.

    ``min2`` uses the neighbours of ``min2_view`` for listings that the union left alone.
    """
    if not thresholds:
        raise ValueError("give at least one view's threshold")
    unknown = [v for v in [*thresholds, *([min2_view] if min2_view else [])] if v not in neighbours]
    if unknown:
        raise KeyError(f"no neighbours for view(s) {unknown}; have {sorted(neighbours)}")
    merged = union(*(match_matrix(neighbours[v], t) for v, t in thresholds.items()))
    if min2_view is not None:
        alone = np.diff(merged.indptr) <= 1
        if alone.any():
            extra = match_matrix(neighbours[min2_view], 0.0, min2=True, relaxed=relaxed)
            extra = sp.diags(alone.astype(np.float32)) @ extra
            merged = union(merged, sp.csr_matrix(extra))
    return cap_matches(merged)
