"""The two matching settings: **pooled** and **clean–clean**.

* **pooled** (Shopee): every listing is compared with all others; a group may have any size and
  any listing may match any other. kNN is :func:`mmrs.matching.knn.knn`.
* **clean–clean** (Abt-Buy, Amazon-Google; Köpcke et al. 2010): two sources, each without
  internal duplicates, so a match always joins one listing of each source. Neighbours are searched
  only in the *other* source (:func:`cross_source_knn`); same-source near-duplicates can no longer
  crowd out the true partner. Optionally a **one-to-one** constraint
  (:func:`one_to_one`): each listing keeps at most one partner.

One-to-one is solved greedily — sort the candidate pairs by similarity, accept a pair when neither
listing is taken yet. This is the "unique mapping clustering" of JedAI (Papadakis et al.) and a
1/2-approximation of the maximum-weight matching; we use it deliberately instead of scipy's
``linear_sum_assignment`` because it works on the sparse thresholded candidate graph
(O(E log E)) and never forces a pair below the threshold, whereas an assignment on the dense
``n₁ × n₂`` matrix must assign every listing of the smaller side.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .embeddings import Embedding, n_rows
from .knn import DEFAULT_K, Neighbours, _top_k, similarity_rows
from .threshold import SELF_SCORE

SETTINGS = ("pooled", "clean-clean")


def cross_source_knn(
    x: Embedding, sources: np.ndarray, k: int = DEFAULT_K, chunk: int = 1024
) -> Neighbours:
    """Exact kNN of each listing among the listings of *other* sources, itself first.

    Row i holds i (similarity 1) followed by the ``k − 1`` most similar listings j with
    ``sources[j] ≠ sources[i]``; ``k`` is capped at one plus the smallest other-source count.
    Works on dense or sparse blocks (chunked ``X Xᵀ``).
    """
    sources = np.asarray(sources)
    n = n_rows(x)
    if len(sources) != n:
        raise ValueError(f"sources has {len(sources)} entries for {n} listings")
    labels, counts = np.unique(sources, return_counts=True)
    if len(labels) < 2:
        raise ValueError("clean–clean matching needs at least two sources")
    k = max(1, min(int(k), 1 + int(n - counts.max())))
    index = np.empty((n, k), dtype=np.int64)
    sim = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, chunk):
        rows = np.arange(start, min(start + chunk, n))
        s = similarity_rows(x, rows)
        s[sources[rows][:, None] == sources[None, :]] = -np.inf
        idx, val = _top_k(s, k - 1) if k > 1 else (np.empty((len(rows), 0), int), None)
        index[rows, 0], sim[rows, 0] = rows, 1.0
        if k > 1:
            index[rows, 1:], sim[rows, 1:] = idx, val
    return Neighbours(index, sim)


def one_to_one(matches: sp.spmatrix) -> sp.csr_matrix:
    """Greedy one-to-one matching: keep each listing's self entry and at most one partner.

    Candidate pairs ``{i, j}`` (either direction; score = the larger stored score) are taken in
    decreasing score (ties: smaller ``(i, j)`` first) and kept when neither i nor j is taken.
    The result is symmetric. Example: scores {0,1}: 1.9, {0,2}: 1.8, {2,3}: 1.7 keep {0,1} and {2,3}.
    """
    m = sp.coo_matrix(matches)
    n = m.shape[0]
    off = m.row != m.col
    i, j, v = m.row[off], m.col[off], m.data[off]
    lo, hi = np.minimum(i, j).astype(np.int64), np.maximum(i, j).astype(np.int64)
    order = np.lexsort((hi, lo, -v))
    taken = np.zeros(n, dtype=bool)
    keep_lo, keep_hi, keep_v = [], [], []
    for a, b, s in zip(lo[order].tolist(), hi[order].tolist(), v[order].tolist(), strict=True):
        if not taken[a] and not taken[b]:
            taken[a] = taken[b] = True
            keep_lo.append(a)
            keep_hi.append(b)
            keep_v.append(s)
    diag = np.arange(n)
    rows = np.concatenate([diag, keep_lo, keep_hi]).astype(np.int64)
    cols = np.concatenate([diag, keep_hi, keep_lo]).astype(np.int64)
    vals = np.concatenate([np.full(n, SELF_SCORE), keep_v, keep_v]).astype(np.float32)
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
