"""FREEDOM: freezing and denoising graph structures (Zhou & Shen, ACM MM 2023), as MMRec has it.

Two graphs, one built from features and frozen, one built from interactions and pruned.

*Frozen item–item graph.* For each modality ``m`` the cosine similarity of the raw item features
is computed once, before training, and each item keeps its ``k`` most similar items (itself
included, ``k = 10``)::

    A_m[i, j] = 1 if j ∈ top-k_j cos(f_i^m, f_j^m)
    S_m = D_m^{-1/2} A_m D_m^{-1/2}      (D_m = row sums; every row has k ones, so S_m = A_m / k)
    S = w_v S_v + (1 − w_v) S_t           (w_v = mm_image_weight = 0.1)

*Denoised user–item graph.* Before every epoch a fraction ``1 − p`` (``p`` = ``dropout``, 0.8 or
0.9 in MMRec's grid) of the training edges is kept, sampled without replacement with probability
proportional to ``1 / sqrt(d_u d_i)`` (edges between high-degree nodes are dropped more often);
the kept bipartite graph is renormalised, ``Â' = D'^{-1/2} A' D'^{-1/2}``. Evaluation uses the
full graph ``Â``.

*Encoder.* ``h_I = S^{L_m} E_I`` (``n_mm_layers`` = 1), LightGCN on ``[E_U; E_I]`` with mean
readout over ``n_ui_layers`` = 2 layers, and the item output ``h_i = h_i^{GCN} + h_I[i]``;
``s(u, i) = h_u · h_i``.

*Loss* for a batch of ``B`` triples ``(u, i, j)``, with trainable feature tables ``e_m``
(initialised with the features) projected by ``W_m`` to ``d``::

    L = BPR(h_u, h_i, h_j) + λ Σ_m BPR(h_u, W_m e_m,i, W_m e_m,j)

where ``BPR(a, b, c) = −mean log σ(a·b − a·c)``. ``λ`` (MMRec's ``reg_weight``) weights the
feature losses; there is no L2 penalty on the embeddings. Features therefore reach the score
only through the frozen graph ``S`` (an item borrows its feature-neighbours' ID embeddings),
and shape the user embeddings through the feature loss.

Efficiency: the reference projects every item's features in every batch; here only the batch's
items are projected, each distinct item once (same loss and gradients), with the positives and
negatives in one lookup, so each trainable feature table gets one dense gradient per batch
instead of two that are then added (the tables dominate the cost: 7,050 × 4,096 floats on Baby).
The user–item graph goes through the shared LightGCN readout (:func:`mmrs.graph.lightgcn_readout`,
symmetric sparse product); ``S`` is not symmetric, so its propagation
(:func:`mmrs.graph.propagate` with ``adj_t``) keeps its transpose for the backward pass. All
graphs are buffers, so ``.to()`` moves them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from ..graph import (
    ConstantSpMM,
    knn_graph,
    lightgcn_readout,
    normalized_adjacency,
    normalized_adjacency_scipy,
    propagate,
    symmetric_normalize,
    to_torch_sparse,
)
from .base import (
    MODALITIES,
    ModelConfig,
    Recommender,
    add_feature_tables,
    bpr_loss,
    check_float,
    check_int,
    check_modalities,
    config_property,
    make_config,
    resolve_modalities,
    restore_feature_tables,
)

MODALITY_ORDER: tuple[str, ...] = MODALITIES

__all__ = [
    "FREEDOM",
    "FREEDOMConfig",
    "ConstantSpMM",
    "degree_sensitive_prune",
    "item_item_graph",
    "knn_graph",
    "pruning_weights",
]


def item_item_graph(
    features: dict[str, np.ndarray], modalities: tuple[str, ...], k: int = 10, image_weight: float = 0.1
) -> sp.csr_matrix:
    """``S = w_v S_v + (1 − w_v) S_t`` (module docstring); one modality alone gives its ``S_m``."""
    graphs = {m: symmetric_normalize(knn_graph(features[m], k)) for m in modalities}
    if set(graphs) == {"image", "text"}:
        return (image_weight * graphs["image"] + (1.0 - image_weight) * graphs["text"]).tocsr()
    (only,) = graphs.values()
    return only


def pruning_weights(train_coo: sp.coo_matrix) -> np.ndarray:
    """``1/sqrt(d_u d_i)`` for every training edge, in the order of ``train_coo``'s entries."""
    du = np.asarray(train_coo.sum(axis=1)).ravel()
    di = np.asarray(train_coo.sum(axis=0)).ravel()
    return 1.0 / np.sqrt(du[train_coo.row] * di[train_coo.col])


def degree_sensitive_prune(
    train_coo: sp.coo_matrix, keep_fraction: float, generator: torch.Generator | None = None
) -> sp.csr_matrix:
    """Keep ``int(|E| * keep_fraction)`` training edges, drawn without replacement with
    probability ∝ ``1/sqrt(d_u d_i)``, and return the renormalised bipartite adjacency
    ``D'^{-1/2} A' D'^{-1/2}`` (``(U + I)²``, symmetric) of the kept edges."""
    n_users, n_items = train_coo.shape
    weights = torch.from_numpy(pruning_weights(train_coo))
    n_keep = int(len(weights) * keep_fraction)
    keep = torch.multinomial(weights, n_keep, replacement=False, generator=generator).numpy()
    kept = sp.coo_matrix(
        (np.ones(n_keep, dtype=np.float32), (train_coo.row[keep], train_coo.col[keep])),
        shape=(n_users, n_items),
    )
    return normalized_adjacency_scipy(kept)


@dataclass(frozen=True)
class FREEDOMConfig(ModelConfig):
    """:class:`FREEDOM`'s hyper-parameters (defaults: MMRec's). ``modalities``: ``None`` (every
    modality the data has) or a non-empty tuple from ``("image", "text")``; a built model's config
    holds the resolved tuple. ``feat_embed_dim`` must equal ``embedding_dim`` (the feature loss
    scores ``h_u · W_m e_m``); ``dropout`` is the fraction of training edges pruned per epoch."""

    modalities: tuple[str, ...] | None = None
    embedding_dim: int = 64
    feat_embed_dim: int = 64
    knn_k: int = 10
    mm_image_weight: float = 0.1
    n_mm_layers: int = 1
    n_ui_layers: int = 2
    dropout: float = 0.8
    reg_weight: float = 1e-4

    def __post_init__(self) -> None:
        self._set(
            "modalities",
            check_modalities("modalities", self.modalities, MODALITY_ORDER, allow_empty=False),
        )
        self._set("embedding_dim", check_int("embedding_dim", self.embedding_dim, 1))
        self._set("feat_embed_dim", check_int("feat_embed_dim", self.feat_embed_dim, 1))
        if self.feat_embed_dim != self.embedding_dim:
            raise ValueError(
                f"feat_embed_dim must equal embedding_dim ({self.embedding_dim}: the feature "
                f"loss scores h_u · W_m e_m), got {self.feat_embed_dim}"
            )
        self._set("knn_k", check_int("knn_k", self.knn_k, 1))
        self._set(
            "mm_image_weight", check_float("mm_image_weight", self.mm_image_weight, 0.0, 1.0)
        )
        self._set("n_mm_layers", check_int("n_mm_layers", self.n_mm_layers, 0))
        self._set("n_ui_layers", check_int("n_ui_layers", self.n_ui_layers, 0))
        self._set("dropout", check_float("dropout", self.dropout, 0.0, 1.0, high_open=True))
        self._set("reg_weight", check_float("reg_weight", self.reg_weight, 0.0))


class FREEDOM(Recommender):
    """FREEDOM with MMRec's conventions (module docstring; settings in :class:`FREEDOMConfig`)."""

    name = "freedom"
    needs_negatives = True
    config: FREEDOMConfig

    modalities = config_property("modalities")
    embedding_dim = config_property("embedding_dim")
    feat_embed_dim = config_property("feat_embed_dim")
    knn_k = config_property("knn_k")
    mm_image_weight = config_property("mm_image_weight")
    n_mm_layers = config_property("n_mm_layers", settable=True)
    n_ui_layers = config_property("n_ui_layers", settable=True)
    dropout = config_property("dropout", settable=True)
    reg_weight = config_property("reg_weight", settable=True)

    def __init__(
        self,
        train: sp.spmatrix,
        features: dict[str, np.ndarray],
        modalities: tuple[str, ...] | None = None,
        embedding_dim: int = 64,
        feat_embed_dim: int = 64,
        knn_k: int = 10,
        mm_image_weight: float = 0.1,
        n_mm_layers: int = 1,
        n_ui_layers: int = 2,
        dropout: float = 0.8,
        reg_weight: float = 1e-4,
        *,
        config: FREEDOMConfig | None = None,
    ) -> None:
        n_users, n_items = train.shape
        super().__init__(n_users, n_items)
        features = dict(features or {})
        config = make_config(
            FREEDOMConfig, config, modalities=modalities, embedding_dim=embedding_dim,
            feat_embed_dim=feat_embed_dim, knn_k=knn_k, mm_image_weight=mm_image_weight,
            n_mm_layers=n_mm_layers, n_ui_layers=n_ui_layers, dropout=dropout,
            reg_weight=reg_weight,
        )
        resolved = resolve_modalities(config.modalities, features, MODALITY_ORDER, allow_empty=False)
        self.config = replace(config, modalities=resolved)
        self.train_coo = sp.coo_matrix(train, dtype=np.float32)
        self.register_buffer("norm_adj", normalized_adjacency(train, layout="csr"), persistent=False)
        s = item_item_graph(features, resolved, self.knn_k, self.mm_image_weight)
        self.register_buffer("mm_adj", to_torch_sparse(s, "csr"), persistent=False)
        self.register_buffer("mm_adj_t", to_torch_sparse(s.T.tocsr(), "csr"), persistent=False)
        self.register_buffer("masked_adj", None, persistent=False)
        self.user_embedding = nn.Parameter(torch.empty(n_users, self.embedding_dim))
        self.item_embedding = nn.Parameter(torch.empty(n_items, self.embedding_dim))
        add_feature_tables(self, features, resolved, n_items, self.feat_embed_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform ID tables, PyTorch's default ``Linear`` init for the projections (the
        reference applies no other), feature tables back to the extracted features."""
        nn.init.xavier_uniform_(self.user_embedding)
        nn.init.xavier_uniform_(self.item_embedding)
        for m in self.modalities:
            self.projections[m].reset_parameters()
        restore_feature_tables(self)
        self.masked_adj = None
        self._cache = None

    def pre_epoch(self) -> None:
        """Re-sample the pruned user–item graph (degree-sensitive edge pruning) from torch's RNG."""
        if self.dropout <= 0.0:
            self.masked_adj = self.norm_adj
            return
        pruned = degree_sensitive_prune(self.train_coo, 1.0 - self.dropout)
        self.masked_adj = to_torch_sparse(pruned, "csr").to(
            device=self.norm_adj.device, dtype=self.norm_adj.dtype
        )

    def forward(self, adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(h_U, h_I)`` on the user–item graph ``adj`` (module docstring): the LightGCN readout
        of ``adj`` plus, for items, ``S^{L_m} E_I`` (FREEDOM's own item-item term)."""
        h = propagate(self.mm_adj, self.item_embedding, self.n_mm_layers, adj_t=self.mm_adj_t)[-1]
        h_users, h_items = lightgcn_readout(
            adj, self.user_embedding, self.item_embedding, self.n_ui_layers
        )
        return h_users, h_items + h

    def project(self, modality: str, items: torch.Tensor) -> torch.Tensor:
        """``W_m e_m`` for ``items``; each distinct item is projected once and its row repeated
        (the same values; a batch's positives and negatives repeat many items)."""
        rows, inverse = torch.unique(items, return_inverse=True)
        return self.projections[modality](self.feat_tables[modality][rows])[inverse]

    def loss_terms(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """``bpr`` (ID/graph), ``bpr_<m>`` per modality and ``total`` (module docstring)."""
        if self.masked_adj is None:
            self.pre_epoch()
        assert self.masked_adj is not None
        h_users, h_items = self.forward(self.masked_adj)
        h_u = h_users[users]
        terms = {"bpr": bpr_loss((h_u * h_items[pos]).sum(1), (h_u * h_items[neg]).sum(1))}
        total = terms["bpr"]
        for m in self.modalities:
            fp, fn = self.project(m, torch.cat([pos, neg])).split(len(pos))
            terms[f"bpr_{m}"] = bpr_loss((h_u * fp).sum(1), (h_u * fn).sum(1))
            total = total + self.reg_weight * terms[f"bpr_{m}"]
        terms["total"] = total
        return terms

    def calculate_loss(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor | None
    ) -> torch.Tensor:
        if neg is None:
            raise ValueError("FREEDOM needs sampled negatives")
        return self.loss_terms(users, pos, neg)["total"]

    def compute_eval_cache(self) -> tuple[torch.Tensor, ...]:
        """``(h_U, h_I)`` on the full (unpruned) graph."""
        return self.forward(self.norm_adj)

    def score_users(self, users: torch.Tensor) -> torch.Tensor:
        """``h_U[users] h_Iᵀ``."""
        h_users, h_items = self.eval_cache()
        return h_users[users] @ h_items.T
