"""Full-ranking top-K evaluation, with MMRec's metric definitions.

Every user is scored against *all* items; items the user interacted with in training are masked
(score set to ``-inf``) before taking the top K, and metrics are averaged over the users that have
at least one relevant item in the evaluated split. For a user ``u`` with relevant set ``T_u`` and
ranked list ``r_1, r_2, ...`` let ``rel_k = 1[r_k in T_u]`` and ``hits@K = sum_{k<=K} rel_k``:

* ``Recall@K    = hits@K / |T_u|``
* ``Precision@K = hits@K / K``
* ``NDCG@K      = DCG@K / IDCG@K`` with ``DCG@K = sum_{k<=K} rel_k / log2(k + 1)`` and
  ``IDCG@K = sum_{k<=min(|T_u|, K)} 1 / log2(k + 1)`` (binary relevance, positions 1-based)
* ``MAP@K       = (sum_{k<=K} rel_k * Precision@k) / min(|T_u|, K)``
* ``Hit@K       = 1[hits@K > 0]``

These match MMRec's ``utils/metrics.py`` (``recall_``, ``ndcg_``, ``precision_``, ``map_``);
``Hit@K`` is added here. Masking convention (MMRec's): when evaluating on the validation split the
training items are masked; when evaluating on the test split *only the training items* are masked
(validation items stay rankable), see :func:`evaluate_split`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
import torch

from .devices import module_device

if TYPE_CHECKING:
    from .data.interactions import InteractionData

DEFAULT_KS: tuple[int, ...] = (5, 10, 20, 50)
"""MMRec's default cut-offs."""

METRIC_NAMES: tuple[str, ...] = ("recall", "ndcg", "precision", "map", "hit")

SCORE_BLOCK_ELEMENTS: int = 2**22
"""At most this many scores (16 MiB of float32) per block in :func:`full_ranking_topk`."""

ScoreFn = Callable[[torch.Tensor], torch.Tensor]
Truth = sp.spmatrix | Sequence[Sequence[int] | np.ndarray]


def _truth_csr(truth: Truth, n_rows: int, n_cols_hint: int) -> sp.csr_matrix:
    """``truth`` as a binary CSR matrix with ``n_rows`` rows, sorted indices, no duplicates."""
    if sp.issparse(truth):
        csr = sp.csr_matrix(truth, copy=True)
        if csr.shape[0] != n_rows:
            raise ValueError(
                f"truth has {csr.shape[0]} rows but topk_items has {n_rows}; row u must be user u"
            )
        csr.eliminate_zeros()
        csr.data[:] = 1.0
    else:
        if len(truth) != n_rows:
            raise ValueError(
                f"truth has {len(truth)} users but topk_items has {n_rows}; row u must be user u"
            )
        rows = [np.unique(np.asarray(t, dtype=np.int64)) for t in truth]
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        cols = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        if len(cols) and cols.min() < 0:
            raise ValueError("truth contains negative item ids")
        n_cols = max(n_cols_hint, int(cols.max()) + 1 if len(cols) else 0)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        csr = sp.csr_matrix((np.ones(len(cols)), cols, indptr), shape=(n_rows, n_cols))
    csr.sum_duplicates()
    csr.sort_indices()
    return csr


def hit_matrix(topk_items: np.ndarray, truth: Truth) -> tuple[np.ndarray, np.ndarray]:
    """Relevance of each ranked item, for the users with at least one relevant item.

    Returns ``(rel, n_rel)``: ``rel[j, k] = 1[topk_items[u_j, k] in T_{u_j}]`` (bool,
    ``[n_eval_users, K]``) and ``n_rel[j] = |T_{u_j}|``, where ``u_j`` runs over the users with
    ``|T_u| >= 1`` in increasing order. Vectorised: each (user, item) pair is encoded as
    ``u * n_cols + item`` and looked up with a binary search in the sorted truth keys.
    """
    topk_items = np.asarray(topk_items)
    if topk_items.ndim != 2:
        raise ValueError(f"topk_items must be 2-D [n_users, K], got shape {topk_items.shape}")
    if topk_items.size and topk_items.min() < 0:
        raise ValueError("topk_items contains negative item ids")
    n_rows = topk_items.shape[0]
    hint = int(topk_items.max()) + 1 if topk_items.size else 0
    csr = _truth_csr(truth, n_rows, hint)
    n_cols = max(csr.shape[1], hint)
    n_rel = np.diff(csr.indptr)
    truth_rows = np.repeat(np.arange(n_rows, dtype=np.int64), n_rel)
    keys = truth_rows * n_cols + csr.indices.astype(np.int64)  # sorted: CSR order
    query = np.arange(n_rows, dtype=np.int64)[:, None] * n_cols + topk_items.astype(np.int64)
    pos = np.searchsorted(keys, query)
    found = np.zeros(query.shape, dtype=bool)
    inside = pos < len(keys)
    found[inside] = keys[pos[inside]] == query[inside]
    users = n_rel > 0
    return found[users], n_rel[users]


def metrics_from_hits(rel: np.ndarray, n_rel: np.ndarray, ks: Sequence[int]) -> dict[str, float]:
    """Average the five metrics (module docstring) over users, from a relevance matrix.

    ``rel`` is ``[n_eval_users, >= max(ks)]`` bool, ``n_rel`` the users' relevant-set sizes (>= 1).
    """
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    if rel.shape[1] < ks[-1]:
        raise ValueError(f"topk_items has {rel.shape[1]} columns but max(ks) = {ks[-1]}")
    if rel.shape[0] == 0:
        raise ValueError("no user has a relevant item; metrics are undefined")
    depth = ks[-1]
    rel = rel[:, :depth].astype(np.float64)
    n_rel = n_rel.astype(np.float64)[:, None]
    positions = np.arange(1, depth + 1, dtype=np.float64)
    hits = np.cumsum(rel, axis=1)  # hits@k for k = 1..depth
    discount = 1.0 / np.log2(positions + 1.0)
    dcg = np.cumsum(rel * discount, axis=1)
    ideal = np.cumsum(discount)  # IDCG for m relevant items = ideal[m - 1]
    sum_prec = np.cumsum(rel * hits / positions, axis=1)  # sum of Precision@k at hit positions
    out: dict[str, float] = {}
    for k in ks:
        cap = np.minimum(n_rel[:, 0], k).astype(np.int64)  # min(|T_u|, K)
        h = hits[:, k - 1]
        out[f"recall@{k}"] = float(np.mean(h / n_rel[:, 0]))
        out[f"ndcg@{k}"] = float(np.mean(dcg[:, k - 1] / ideal[cap - 1]))
        out[f"precision@{k}"] = float(np.mean(h / k))
        out[f"map@{k}"] = float(np.mean(sum_prec[:, k - 1] / cap))
        out[f"hit@{k}"] = float(np.mean(h > 0))
    return out


def evaluate_topk(topk_items: np.ndarray, truth: Truth, ks: Sequence[int]) -> dict[str, float]:
    """Recall, NDCG, Precision, MAP and Hit at every K in ``ks`` (equations: module docstring).

    ``topk_items``: int array ``[n_users, >= max(ks)]``; row ``u`` ranks items for user ``u``.
    ``truth``: CSR matrix ``[n_users, n_items]`` or a sequence of per-user arrays of relevant item
    ids. Users without relevant items are skipped; the rest are averaged with equal weight.
    Returns keys ``recall@K``, ``ndcg@K``, ``precision@K``, ``map@K``, ``hit@K``.
    """
    rel, n_rel = hit_matrix(topk_items, truth)
    return metrics_from_hits(rel, n_rel, ks)


def _mask_rows(exclude: sp.csr_matrix | None, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)`` of the entries of ``exclude`` (its row ``j`` masks score row ``j``)."""
    if exclude is None:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    exclude = sp.csr_matrix(exclude)
    if exclude.shape[0] != n_rows:
        raise ValueError(f"exclude has {exclude.shape[0]} rows, the score block {n_rows}")
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(exclude.indptr))
    return rows, exclude.indices.astype(np.int64)


def topk_scores(
    scores: torch.Tensor | np.ndarray, k: int, exclude: sp.csr_matrix | None = None
) -> np.ndarray:
    """Top-``k`` item ids (int64 ``[b, k]``, best first) of a ``[b, n_items]`` score block.

    Row ``j`` of ``exclude`` (a CSR matrix with ``b`` rows, e.g. ``train[users]``) lists items set
    to ``-inf`` in row ``j`` before ranking: ``s_uj <- -inf for j in exclude_u``. A float
    tensor block is modified in place (a numpy block is copied first). If fewer than ``k``
    items remain, masked items fill the tail of the row. Masking and ``torch.topk`` run on the
    block's device; only the ``[b, k]`` ids come back to the CPU.
    """
    block = torch.from_numpy(np.array(scores)) if isinstance(scores, np.ndarray) else scores
    if not torch.is_floating_point(block):
        block = block.to(torch.float32)
    if block.ndim != 2:
        raise ValueError(f"scores must be 2-D [batch, n_items], got shape {tuple(block.shape)}")
    if not 1 <= k <= block.shape[1]:
        raise ValueError(f"k must be in 1..n_items={block.shape[1]}, got {k}")
    rows, cols = _mask_rows(exclude, block.shape[0])
    if len(rows):
        device = block.device
        block[torch.from_numpy(rows).to(device), torch.from_numpy(cols).to(device)] = -torch.inf
    top = torch.topk(block, k, dim=1, sorted=True).indices
    return top.cpu().numpy().astype(np.int64, copy=False)


def full_ranking_topk(
    score_fn: ScoreFn,
    n_users: int,
    k: int,
    exclude_csr: sp.csr_matrix | None,
    batch_size: int = 4096,
    users: np.ndarray | None = None,
) -> np.ndarray:
    """Rank all items for every user in batches; int64 ``[len(users), k]`` (default all users).

    For each batch ``B`` of user ids, ``score_fn(torch.LongTensor(B))`` (ids on the CPU; the
    score function moves them where it needs them, see :func:`as_score_fn`) must return the
    float scores ``[|B|, n_items]`` on any device and in any float dtype; the items of
    ``exclude_csr[B]`` (normally the training matrix) are set to ``-inf`` and ``torch.topk``
    keeps the best ``k``, on the scores' device. Runs under ``torch.no_grad()``.

    Speed: a batch is scored in blocks of at most :data:`SCORE_BLOCK_ELEMENTS` scores (known from
    ``exclude_csr``'s width). A score block of ``4096 x n_items`` floats is a fresh allocation of
    over 100 MB per call, which the C allocator maps from the kernel page by page each time; a
    block of 16 MiB is recycled, and the per-row scores, masking and top-k are the same (the
    top-k lists are checked equal in ``benchmarks/bench_epoch.py``).
    """
    ids = np.arange(n_users, dtype=np.int64) if users is None else np.asarray(users, np.int64)
    if exclude_csr is not None:
        exclude_csr = sp.csr_matrix(exclude_csr)
        batch_size = max(1, min(batch_size, SCORE_BLOCK_ELEMENTS // max(exclude_csr.shape[1], 1)))
    out = np.empty((len(ids), k), dtype=np.int64)
    with torch.no_grad():
        for start in range(0, len(ids), batch_size):
            batch = ids[start : start + batch_size]
            scores = score_fn(torch.from_numpy(batch))
            mask = exclude_csr[batch] if exclude_csr is not None else None
            out[start : start + len(batch)] = topk_scores(scores.detach(), k, mask)
    return out


def as_score_fn(model_or_score_fn: Any) -> ScoreFn:
    """A model's ``score_users`` (after ``model.eval()`` and ``prepare_eval()``), or the callable.

    For a model whose tensors live off the CPU the user ids are moved to its device first
    (:func:`mmrs.devices.module_device`); the scores stay there.
    """
    if hasattr(model_or_score_fn, "score_users"):
        model = model_or_score_fn
        if hasattr(model, "eval"):
            model.eval()
        if hasattr(model, "prepare_eval"):
            model.prepare_eval()
        device = module_device(model)
        if device is None or device.type == "cpu":
            return model.score_users
        return lambda users: model.score_users(users.to(device))
    if callable(model_or_score_fn):
        return model_or_score_fn
    raise TypeError("expected a model with score_users(users) or a callable score function")


def evaluate_split(
    model_or_score_fn: Any,
    data: InteractionData,
    split: str,
    ks: Sequence[int] = DEFAULT_KS,
    batch_size: int = 4096,
    mask_valid_at_test: bool = False,
) -> dict[str, float]:
    """Full-ranking metrics of a model on ``split`` (``"valid"`` or ``"test"``), MMRec-style.

    Masking, explicitly: training items are excluded from every ranking, for both splits; at test
    time validation items are **not** masked (as in MMRec). ``mask_valid_at_test=True`` also
    excludes them when ``split == "test"`` (the other common convention, for comparison). Only
    users with at least one item in ``split`` are ranked and averaged. The model is scored on
    its own device, in its own float dtype (:func:`full_ranking_topk`).
    """
    if split not in ("valid", "test"):
        raise ValueError(f"evaluate on 'valid' or 'test', not {split!r}")
    truth = data.split(split)
    users = np.flatnonzero(np.diff(truth.indptr) > 0)
    score_fn = as_score_fn(model_or_score_fn)
    exclude = data.train + data.valid if (mask_valid_at_test and split == "test") else data.train
    topk = full_ranking_topk(score_fn, data.n_users, max(ks), exclude.tocsr(), batch_size, users)
    return evaluate_topk(topk, truth[users], ks)

# Rare items: Recall/NDCG@K restricted to test interactions whose item has at most
# ``max_train_degree`` training interactions (users without any are left out). With
# ``candidates="all"`` every item is ranked; with ``candidates="rare"`` only rare items are
# (the others get -inf), asking whether the model orders the long tail well.


def rare_items(data: Any, max_train_degree: int = 5) -> np.ndarray:
    """Boolean mask of items with at most ``max_train_degree`` training interactions (0 included)."""
    degree = np.asarray(data.train.getnnz(axis=0)).ravel()
    return degree <= max_train_degree


def rare_item_metrics(
    model_or_score_fn: Any,
    data: Any,
    split: str = "test",
    ks: tuple[int, ...] = (10, 20),
    max_train_degree: int = 5,
    candidates: str = "all",
) -> dict[str, float]:
    """Full-ranking metrics on ``split`` restricted to rare items (module docstring).

    Adds ``n_users`` and ``n_interactions`` (how many rare test interactions were evaluated).
    """
    if candidates not in ("all", "rare"):
        raise ValueError(f"candidates must be 'all' or 'rare', got {candidates!r}")
    is_rare = rare_items(data, max_train_degree)
    truth = sp.csr_matrix(data.split(split))
    keep = sp.diags(is_rare.astype(np.float32))
    rare = sp.csr_matrix(truth @ keep)
    rare.eliminate_zeros()
    users = np.flatnonzero(np.diff(rare.indptr) > 0)
    if len(users) == 0:
        raise ValueError(f"no {split} interaction has an item with <= {max_train_degree} train interactions")
    score_fn = as_score_fn(model_or_score_fn)
    if candidates == "rare":
        common = torch.from_numpy(~is_rare)
        all_fn = score_fn

        def score_fn(users: torch.Tensor) -> torch.Tensor:
            scores = all_fn(users)
            return scores.masked_fill(common.to(scores.device), float("-inf"))

    topk = full_ranking_topk(score_fn, data.n_users, max(ks), data.train, 4096, users)
    out = {k: v for k, v in evaluate_topk(topk, rare[users], ks).items() if k.split("@")[0] in ("recall", "ndcg")}
    out["n_users"] = int(len(users))
    out["n_interactions"] = int(rare.nnz)
    return out
