"""The retrieval task and its metrics.

**Task.** A text query — a test product's title — ranks product photos. The gallery is the photo
of every sampled product (train, validation and test; a shop indexes its whole catalogue); the
query titles of the test split were never seen in training.

**Relevance.** Attribute-level: gallery item ``i`` is relevant to query ``q`` when they share
``articleType``, ``gender`` and ``baseColour`` (:data:`RELEVANCE_KEYS`); the query's own product is
always relevant. With ``rel_k = 1[r_k relevant]`` for the ranked list ``r_1, r_2, ...`` and
``T_q`` the relevant set, the metrics are those of :mod:`mmrs.metrics` (binary relevance):

* ``Precision@K = (1/K) Σ_{k≤K} rel_k``
* ``MAP@K = (Σ_{k≤K} rel_k · Precision@k) / min(|T_q|, K)``
* ``NDCG@K = Σ_{k≤K} rel_k / log2(k+1)  /  Σ_{k≤min(|T_q|,K)} 1 / log2(k+1)``

plus **exact-product recall** ``Recall@K = 1[own photo in the top K]`` (one relevant item).
Lists restricted to fewer than K candidates are padded with a sentinel id that is never relevant.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..metrics import evaluate_topk

RELEVANCE_KEYS: tuple[str, ...] = ("articleType", "gender", "baseColour")
METRICS: tuple[str, ...] = ("precision", "map", "ndcg", "exact_recall")


def attribute_truth(
    query_attrs: pd.DataFrame, gallery_attrs: pd.DataFrame, keys: Sequence[str] = RELEVANCE_KEYS
) -> list[np.ndarray]:
    """For each query row, the gallery positions whose ``keys`` all equal the query's."""
    g_key = pd.MultiIndex.from_frame(gallery_attrs[list(keys)].astype(str))
    groups: dict[tuple, list[int]] = {}
    for pos, key in enumerate(g_key):
        groups.setdefault(key, []).append(pos)
    q_key = pd.MultiIndex.from_frame(query_attrs[list(keys)].astype(str))
    return [np.asarray(groups.get(key, []), dtype=np.int64) for key in q_key]


def topk_from_scores(scores: np.ndarray, k: int) -> np.ndarray:
    """Top-``k`` gallery positions per row (descending score); ``-inf`` entries → sentinel ``n``.

    The sentinel is ``scores.shape[1]``, an id no truth set contains.
    """
    n = scores.shape[1]
    k_eff = min(k, n)
    part = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    top = np.take_along_axis(part, order, axis=1)
    top_scores = np.take_along_axis(part_scores, order, axis=1)
    top = np.where(np.isneginf(top_scores), n, top)
    if k_eff < k:
        top = np.hstack([top, np.full((len(top), k - k_eff), n, dtype=top.dtype)])
    return top


def retrieval_metrics(
    topk: np.ndarray,
    truth: Sequence[np.ndarray],
    own: np.ndarray,
    ks: Sequence[int] = (5, 10, 20),
) -> dict[str, float]:
    """``precision@K``, ``map@K``, ``ndcg@K`` (attribute relevance) and ``exact_recall@K``.

    ``own[q]`` is the gallery position of query ``q``'s own product. Averages over all queries
    (every query has at least its own product as relevant).
    """
    truth = [np.union1d(t, [o]) for t, o in zip(truth, own, strict=True)]
    attr = evaluate_topk(topk, truth, ks)
    exact = evaluate_topk(topk, [np.array([o]) for o in own], ks)
    out: dict[str, float] = {}
    for k in ks:
        for m in ("precision", "map", "ndcg"):
            out[f"{m}@{k}"] = attr[f"{m}@{k}"]
        out[f"exact_recall@{k}"] = exact[f"recall@{k}"]
    return out
