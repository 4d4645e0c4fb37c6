"""Semantic interference in one shared space, measured.

``cross_category_share``: for each query, the share of its top-k flat neighbours (photos) whose
category differs from the query's own — every such neighbour takes a slot a same-category item
could hold. ``pca_2d`` projects embeddings on their first two principal components (SVD of the
centred matrix) for plotting.
"""

from __future__ import annotations

import numpy as np

from ..retrieval.task import topk_from_scores


def cross_category_share(scores: np.ndarray | None, q_codes: np.ndarray, g_codes: np.ndarray,
                         k: int = 10, top: np.ndarray | None = None) -> np.ndarray:
    """Per query: ``(1/k) Σ_{j≤k} 1[c(r_j) ≠ c(q)]`` over the top-k of ``scores`` (or over the
    ranked lists ``top [n_q, k]`` given instead, e.g. from
    :func:`~mmrs.hierarchical.cascade.flat_topk` on a large gallery)."""
    top = topk_from_scores(scores, k) if top is None else np.asarray(top)[:, :k]
    return (g_codes[top] != np.asarray(q_codes)[:, None]).mean(axis=1)


def confusion_pairs(scores, q_codes, g_codes, labels, k: int = 10, n: int = 10,
                    top: np.ndarray | None = None) -> list[tuple[str, str, int]]:
    """The ``n`` most frequent (query category, neighbour category) pairs that cross categories
    (top-k of ``scores``, or the ranked lists ``top`` given instead)."""
    top = topk_from_scores(scores, k) if top is None else np.asarray(top)[:, :k]
    pairs: dict[tuple[int, int], int] = {}
    for qc, row in zip(q_codes, g_codes[top], strict=True):
        for gc in row[row != qc]:
            pairs[(int(qc), int(gc))] = pairs.get((int(qc), int(gc)), 0) + 1
    ranked = sorted(pairs.items(), key=lambda kv: -kv[1])[:n]
    return [(labels[a], labels[b], c) for (a, b), c in ranked]


def pca_2d(x: np.ndarray) -> np.ndarray:
    """Coordinates of the rows of ``x`` on its first two principal components."""
    centred = np.asarray(x, np.float64) - np.mean(x, axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def neighbour_table(products, scores: np.ndarray, query_rows: np.ndarray, q: int, k: int = 5):
    """The top-``k`` gallery products of query ``q`` (a row of ``scores``) beside the query.

    ``products`` is the gallery frame (row order = score columns); ``query_rows[q]`` the
    query's own gallery row. Columns: rank, articleType, gender, baseColour, title, score.
    """
    import pandas as pd

    top = topk_from_scores(scores[q : q + 1], k)[0]
    cols = ["articleType", "gender", "baseColour", "title"]
    frame = products.iloc[top][cols].copy()
    frame.insert(0, "rank", np.arange(1, len(top) + 1))
    frame["score"] = scores[q, top]
    query = products.iloc[[query_rows[q]]][cols].copy()
    query.insert(0, "rank", ["query"])
    query["score"] = np.nan
    return pd.concat([query, frame])


def worst_query(scores: np.ndarray, q_codes: np.ndarray, g_codes: np.ndarray, k: int = 5) -> int:
    """The query with the most cross-category products in its top ``k`` (first such query)."""
    return int(np.argmax(cross_category_share(scores, q_codes, g_codes, k)))
