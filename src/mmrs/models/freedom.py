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
items are projected (same loss and gradients). The user–item graph is propagated with the
symmetric sparse product of :mod:`mmrs.models.lightgcn`; ``S`` is not symmetric, so its
product keeps its transpose for the backward pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from ..graph import (
    normalized_adjacency,
    normalized_adjacency_scipy,
    symmetric_normalize,
    to_torch_sparse,
)
from .base import Recommender, add_feature_tables, bpr_loss, restore_feature_tables
from .lightgcn import symmetric_propagate

MODALITY_ORDER: tuple[str, ...] = ("image", "text")


def knn_graph(features: np.ndarray, k: int, chunk: int = 1024) -> sp.csr_matrix:
    """Binary ``n x n`` graph linking each row to its ``k`` most cosine-similar rows (itself included).

    Ties are broken by ``torch.topk``. Rows of norm 0 have cosine 0 with everything. Computed in
    chunks of ``chunk`` rows, so memory is ``O(chunk * n)``.
    """
    x = torch.from_numpy(np.asarray(features, dtype=np.float32))
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}] for {n} items, got {k}")
    x = F.normalize(x, dim=1)
    cols = []
    with torch.no_grad():
        for start in range(0, n, chunk):
            sim = x[start : start + chunk] @ x.T
            cols.append(torch.topk(sim, k, dim=1).indices)
    col = torch.cat(cols).numpy().ravel()
    row = np.repeat(np.arange(n), k)
    graph = sp.csr_matrix((np.ones(len(row), dtype=np.float32), (row, col)), shape=(n, n))
    graph.sum_duplicates()
    graph.data[:] = 1.0
    return graph


def item_item_graph(
    features: dict[str, np.ndarray], modalities: tuple[str, ...], k: int = 10, image_weight: float = 0.1
) -> sp.csr_matrix:
    """``S = w_v S_v + (1 − w_v) S_t`` (module docstring); one modality alone gives its ``S_m``."""
    graphs = {m: symmetric_normalize(knn_graph(features[m], k)) for m in modalities}
    if set(graphs) == {"image", "text"}:
        return (image_weight * graphs["image"] + (1.0 - image_weight) * graphs["text"]).tocsr()
    (only,) = graphs.values()
    return only


class ConstantSpMM(torch.autograd.Function):
    """``y = S x`` for a constant sparse ``S`` (not symmetric); backward ``dx = Sᵀ dy``."""

    @staticmethod
    def forward(ctx: Any, adj: torch.Tensor, adj_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.adj_t = adj_t
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, None, torch.Tensor]:
        return None, None, torch.sparse.mm(ctx.adj_t, grad.contiguous())


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


class FREEDOM(Recommender):
    """FREEDOM with MMRec's conventions (module docstring)."""

    name = "freedom"
    needs_negatives = True

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
    ) -> None:
        n_users, n_items = train.shape
        super().__init__(n_users, n_items)
        features = dict(features or {})
        if modalities is None:
            modalities = tuple(m for m in MODALITY_ORDER if m in features)
        modalities = tuple(m for m in MODALITY_ORDER if m in set(modalities))
        if not modalities:
            raise ValueError("FREEDOM needs at least one feature modality ('image' and/or 'text').")
        missing = [m for m in modalities if m not in features]
        if missing:
            raise ValueError(
                f"modalities {missing} requested but the data has features {sorted(features)}; "
                "extract them first (mmrs.features) or choose other modalities."
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.modalities = modalities
        self.embedding_dim = int(embedding_dim)
        self.feat_embed_dim = int(feat_embed_dim)
        self.knn_k = int(knn_k)
        self.mm_image_weight = float(mm_image_weight)
        self.n_mm_layers = int(n_mm_layers)
        self.n_ui_layers = int(n_ui_layers)
        self.dropout = float(dropout)
        self.reg_weight = float(reg_weight)
        self.train_coo = sp.coo_matrix(train, dtype=np.float32)
        self.norm_adj = normalized_adjacency(train, layout="csr")
        s = item_item_graph(features, modalities, self.knn_k, self.mm_image_weight)
        self.mm_adj = to_torch_sparse(s, "csr")
        self.mm_adj_t = to_torch_sparse(s.T.tocsr(), "csr")
        self.masked_adj: torch.Tensor | None = None
        self.user_embedding = nn.Parameter(torch.empty(n_users, embedding_dim))
        self.item_embedding = nn.Parameter(torch.empty(n_items, embedding_dim))
        add_feature_tables(self, features, modalities, n_items, feat_embed_dim)
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

    def hparams(self) -> dict[str, Any]:
        return {
            "modalities": list(self.modalities),
            "embedding_dim": self.embedding_dim,
            "feat_embed_dim": self.feat_embed_dim,
            "knn_k": self.knn_k,
            "mm_image_weight": self.mm_image_weight,
            "n_mm_layers": self.n_mm_layers,
            "n_ui_layers": self.n_ui_layers,
            "dropout": self.dropout,
            "reg_weight": self.reg_weight,
        }

    def pre_epoch(self) -> None:
        """Re-sample the pruned user–item graph (degree-sensitive edge pruning) from torch's RNG."""
        if self.dropout <= 0.0:
            self.masked_adj = self.norm_adj
            return
        pruned = degree_sensitive_prune(self.train_coo, 1.0 - self.dropout)
        self.masked_adj = to_torch_sparse(pruned, "csr")

    def forward(self, adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(h_U, h_I)`` on the user–item graph ``adj`` (module docstring)."""
        h = self.item_embedding
        for _ in range(self.n_mm_layers):
            h = ConstantSpMM.apply(self.mm_adj, self.mm_adj_t, h)
        ego = torch.cat([self.user_embedding, self.item_embedding], dim=0)
        final = torch.stack(symmetric_propagate(adj, ego, self.n_ui_layers), dim=0).mean(dim=0)
        return final[: self.n_users], final[self.n_users :] + h

    def project(self, modality: str, items: torch.Tensor) -> torch.Tensor:
        """``W_m e_m`` for ``items``."""
        return self.projections[modality](self.feat_tables[modality][items])

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
            fp, fn = self.project(m, pos), self.project(m, neg)
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
