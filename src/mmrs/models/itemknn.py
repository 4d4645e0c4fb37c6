"""ItemKNN-CBF: a content-based item-kNN recommender (no training), after MMRec's ``ItemKNNCBF``.

Each item ``i`` has a feature vector ``x_i``: every modality's raw features, each L2-normalised
(``normalise=True``) and concatenated (MMRec concatenates the raw features; ``normalise=False``).
The *shrunk cosine* of two items is::

    sim(j, i) = x_j · x_i / (‖x_j‖ ‖x_i‖ + shrink)

Row ``j`` keeps its ``knn_k`` largest entries (``j`` itself included, as in MMRec), the rest is
zero: ``S_ji = sim(j, i) 1[i ∈ topk_j]``. A user's score of item ``i`` sums over the user's
training items::

    s(u, i) = Σ_{j ∈ train(u)} S_ji          (scores = R S, R the binary train matrix)

With per-modality normalisation every ``‖x_i‖² `` equals the number of modalities ``M``, so the
shrink only scales all similarities by ``M / (M + shrink)`` and does not change the ranking; it
matters with raw features, where it damps pairs of items with small feature norms.

Not a library's: scikit-learn's and faiss' neighbour searches offer the cosine but not MMRec's
shrunk cosine, and the dense product in row chunks is a few lines. Memory ``O(chunk · n_items)``
while building ``S``; ``S`` itself has ``n_items · knn_k`` entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from ..graph import to_torch_sparse
from .base import (
    MODALITIES,
    ModelConfig,
    Recommender,
    check_bool,
    check_float,
    check_int,
    check_modalities,
    config_property,
    make_config,
    resolve_modalities,
)


@dataclass(frozen=True)
class ItemKNNConfig(ModelConfig):
    """Hyper-parameters of :class:`ItemKNN` (MMRec's ``ItemKNNCBF.yaml``: ``knn_k`` 10, ``shrink`` 10)."""

    knn_k: int = 10
    shrink: float = 10.0
    normalise: bool = True
    """L2-normalise each modality before concatenating (``False``: raw features, as MMRec)."""
    modalities: tuple[str, ...] | None = None
    """``None``: every modality the data has."""

    def __post_init__(self) -> None:
        self._set("knn_k", check_int("knn_k", self.knn_k, 1))
        self._set("shrink", check_float("shrink", self.shrink, 0.0))
        self._set("normalise", check_bool("normalise", self.normalise))
        self._set("modalities", check_modalities("modalities", self.modalities, MODALITIES,
                                                 allow_empty=False))


def item_vectors(features: dict[str, np.ndarray], modalities: tuple[str, ...],
                 normalise: bool = True) -> np.ndarray:
    """``x_i``: the modalities' features (each L2-normalised if ``normalise``) concatenated
    in :data:`~mmrs.models.base.MODALITIES` order, float32 ``[n_items, sum_m d_m]``."""
    blocks = []
    for m in modalities:
        raw = np.asarray(features[m], dtype=np.float32)
        if normalise:
            norm = np.linalg.norm(raw, axis=1, keepdims=True)
            raw = raw / np.where(norm > 0, norm, 1.0)
        blocks.append(raw)
    return np.concatenate(blocks, axis=1)


def shrunk_knn_similarity(x: np.ndarray, k: int, shrink: float, chunk: int = 1024) -> sp.csr_matrix:
    """``S`` of the module docstring: row ``j`` holds ``sim(j, i)`` for ``j``'s ``k`` most
    similar items ``i`` (itself included; ties broken by ``torch.topk``)."""
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    n = xt.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"knn_k must be in [1, {n}] for {n} items, got {k}")
    norms = torch.linalg.vector_norm(xt, dim=1)
    values, cols = [], []
    with torch.no_grad():
        for start in range(0, n, chunk):
            block = xt[start : start + chunk]
            sim = (block @ xt.T) / (norms[start : start + chunk, None] * norms[None, :] + shrink)
            top = torch.topk(sim, k, dim=1)
            values.append(top.values)
            cols.append(top.indices)
    rows = np.repeat(np.arange(n), k)
    data = torch.cat(values).cpu().numpy().ravel()
    col = torch.cat(cols).cpu().numpy().ravel()
    return sp.csr_matrix((data, (rows, col)), shape=(n, n), dtype=np.float32)


class ItemKNN(Recommender):
    """Content-based item kNN (module docstring): scores are ``R S``, nothing is learnt."""

    name = "itemknn"
    needs_negatives = False
    config: ItemKNNConfig
    knn_k = config_property("knn_k")
    shrink = config_property("shrink")

    def __init__(self, train: sp.spmatrix, features: dict[str, np.ndarray], *, knn_k: int = 10,
                 shrink: float = 10.0, normalise: bool = True,
                 modalities: tuple[str, ...] | None = None,
                 config: ItemKNNConfig | None = None) -> None:
        n_users, n_items = train.shape
        super().__init__(n_users, n_items)
        self.config = make_config(ItemKNNConfig, config, knn_k=knn_k, shrink=shrink,
                                  normalise=normalise, modalities=modalities)
        modalities = resolve_modalities(self.config.modalities, features, MODALITIES,
                                        allow_empty=False)
        for m in modalities:
            if np.asarray(features[m]).shape[0] != n_items:
                raise ValueError(f"{m} features have {np.asarray(features[m]).shape[0]} rows, "
                                 f"expected {n_items} items")
        x = item_vectors(features, modalities, self.config.normalise)
        sim = shrunk_knn_similarity(x, self.config.knn_k, self.config.shrink)
        binary = sp.csr_matrix(train, dtype=np.float32, copy=True)
        binary.data[:] = 1.0
        self.register_buffer("train_matrix", to_torch_sparse(binary, "coo"))
        self.register_buffer("similarity_t", to_torch_sparse(sim.T.tocsr(), "coo"))

    def calculate_loss(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor | None
    ) -> torch.Tensor:
        """Zero: item kNN has nothing to learn."""
        return self.similarity_t.new_zeros(())

    def score_users(self, users: torch.Tensor) -> torch.Tensor:
        """``[b, n_items]``: ``R[users] S`` (computed as ``(S^T R[users]^T)^T``)."""
        rows = self.train_matrix.index_select(0, users.to(self.train_matrix.device)).to_dense()
        return torch.sparse.mm(self.similarity_t, rows.T).T
