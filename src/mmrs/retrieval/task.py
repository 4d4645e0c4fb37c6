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

**Relevances the router does not see.** Chapter 6 routes by articleType (or subCategory), and the
attribute relevance above requires the same articleType, so a correct route can only remove
irrelevant items. Two further relevances:

* **exact product**, over the whole ranking: ``rank_q = 1 + #{i : S_qi > S_q,own}`` and
  ``MRR = (1/|Q|) Σ_q 1/rank_q`` (``1/rank_q = 0`` when the own photo is not a candidate,
  ``S_q,own = −inf``); see :func:`own_rank`. The own product is inside the query's true
  category, but a *wrong* route removes it.
* **graded, router-blind**: the gain of gallery item ``i`` for query ``q`` is the share of
  :data:`GRADED_KEYS` (gender, baseColour, season, usage — never the category) they share,
  ``g_qi = (1/|A|) Σ_{a∈A} 1[a(i) = a(q)] ∈ [0, 1]``, and
  ``gNDCG@K = Σ_{k≤K} g_{q r_k} / log2(k+1)  /  Σ_{k≤K} g*_{q,(k)} / log2(k+1)`` where
  ``g*_{q,(k)}`` is the k-th largest gain over the whole gallery (:func:`graded_ndcg`). Items of
  another category can be fully relevant, so routing can remove relevant items.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..metrics import evaluate_topk

RELEVANCE_KEYS: tuple[str, ...] = ("articleType", "gender", "baseColour")
GRADED_KEYS: tuple[str, ...] = ("gender", "baseColour", "season", "usage")
"""Attributes of the graded relevance: none of them is a routing level."""
METRICS: tuple[str, ...] = ("precision", "map", "ndcg", "exact_recall", "exact_mrr", "graded_ndcg")


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


def attribute_codes(
    query_attrs: pd.DataFrame, gallery_attrs: pd.DataFrame, keys: Sequence[str] = GRADED_KEYS
) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes ``[n, |keys|]`` of the query and gallery rows, one shared code per value."""
    q = np.empty((len(query_attrs), len(keys)), np.int64)
    g = np.empty((len(gallery_attrs), len(keys)), np.int64)
    for j, key in enumerate(keys):
        both = pd.Categorical(pd.concat([query_attrs[key], gallery_attrs[key]]).astype(str))
        q[:, j], g[:, j] = both.codes[: len(query_attrs)], both.codes[len(query_attrs) :]
    return q, g


def graded_gains(q_codes: np.ndarray, g_codes: np.ndarray) -> np.ndarray:
    """``g [n_q, n_g]`` (float32): the share of attributes query and gallery item share."""
    gains = np.zeros((len(q_codes), len(g_codes)), np.float32)
    for j in range(q_codes.shape[1]):
        gains += q_codes[:, j, None] == g_codes[None, :, j]
    return gains / q_codes.shape[1]


def graded_ndcg(topk: np.ndarray, gains: np.ndarray, ks: Sequence[int] = (5, 10, 20)) -> dict[str, np.ndarray]:
    """Per query ``graded_ndcg@K`` (module docstring) of ranked lists ``topk`` under ``gains``.

    The sentinel id ``gains.shape[1]`` (a padded slot) has gain 0; the ideal list takes the K
    largest gains of the whole row.
    """
    n = gains.shape[1]
    depth = max(ks)
    got = np.where(topk[:, :depth] < n,
                   np.take_along_axis(gains, np.minimum(topk[:, :depth], n - 1), axis=1), 0.0)
    k_eff = min(depth, n)
    ideal = -np.sort(np.partition(-gains, k_eff - 1, axis=1)[:, :k_eff], axis=1)
    ideal = np.hstack([ideal, np.zeros((len(gains), depth - k_eff), ideal.dtype)])
    disc = 1.0 / np.log2(np.arange(2, depth + 2))
    out = {}
    for k in ks:
        dcg = got[:, :k] @ disc[:k]
        idcg = ideal[:, :k] @ disc[:k]
        out[f"graded_ndcg@{k}"] = np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)
    return out


def own_rank(scores: np.ndarray, own: np.ndarray) -> np.ndarray:
    """``rank_q = 1 + #{i : S_qi > S_q,own[q]}`` (ties counted in the query's favour); ``inf``
    when the own photo is not a candidate (``S_q,own = −inf``)."""
    mine = scores[np.arange(len(scores)), own]
    rank = 1.0 + (scores > mine[:, None]).sum(axis=1)
    return np.where(np.isneginf(mine), np.inf, rank)
