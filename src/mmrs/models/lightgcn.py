"""LightGCN (He et al., SIGIR 2020), following MMRec's implementation.

Ego embeddings ``H^0 = [E_U; E_I]`` (Xavier-uniform init) are propagated linearly on the
normalised bipartite graph (see :mod:`mmrs.graph`) and averaged over layers::

    H^{l+1} = Â H^l,     H = (1 / (L + 1)) sum_{l=0..L} H^l,     s(u, i) = h_u · h_i

Training loss for a batch of ``B`` triples ``(u, i, j)``::

    L = -(1/B) sum log sigma(s_ui - s_uj) + lambda * (||E^0_u||_F + ||E^0_i||_F + ||E^0_j||_F) / B

The regulariser acts on the batch's *ego* (layer-0) embeddings, as MMRec's
``reg_weight * EmbLoss(u_ego, pos_ego, neg_ego)``; MMRec's ``EmbLoss`` sums Frobenius norms
that are **not squared** (``squared_reg=True`` squares them). The full graph is propagated once
per training batch (the gradient reaches every ego embedding); evaluation propagates once and
caches ``H``.

The propagation and readout are :func:`mmrs.graph.lightgcn_readout` (shared with BM3 and FREEDOM).
Speed: ``Â`` is a CSR tensor (a buffer, so ``.to()`` moves it) and the product goes through
:class:`~mmrs.graph.SymmetricSpMM`, which uses ``Â^T = Â`` so that the backward pass is one
more CSR product instead of a transpose.
"""

from __future__ import annotations

from dataclasses import dataclass

import scipy.sparse as sp
import torch
from torch import nn

from ..graph import SymmetricSpMM, lightgcn_readout, normalized_adjacency, symmetric_propagate
from .base import (
    ModelConfig,
    Recommender,
    bpr_loss,
    check_bool,
    check_float,
    check_int,
    config_property,
    emb_loss,
    make_config,
)

__all__ = ["LightGCN", "LightGCNConfig", "SymmetricSpMM", "symmetric_propagate"]


@dataclass(frozen=True)
class LightGCNConfig(ModelConfig):
    """:class:`LightGCN`'s hyper-parameters: ``d`` >= 1, ``L`` >= 0 layers, ``lambda`` >= 0."""

    embedding_dim: int = 64
    n_layers: int = 2
    reg_weight: float = 1e-4
    squared_reg: bool = False

    def __post_init__(self) -> None:
        self._set("embedding_dim", check_int("embedding_dim", self.embedding_dim, 1))
        self._set("n_layers", check_int("n_layers", self.n_layers, 0))
        self._set("reg_weight", check_float("reg_weight", self.reg_weight, 0.0))
        self._set("squared_reg", check_bool("squared_reg", self.squared_reg))


class LightGCN(Recommender):
    """LightGCN with mean readout over layers ``0..L`` and BPR loss."""

    name = "lightgcn"
    needs_negatives = True
    config: LightGCNConfig

    embedding_dim = config_property("embedding_dim")
    n_layers = config_property("n_layers", settable=True)
    reg_weight = config_property("reg_weight", settable=True)
    squared_reg = config_property("squared_reg", settable=True)

    def __init__(
        self,
        train: sp.spmatrix,
        embedding_dim: int = 64,
        n_layers: int = 2,
        reg_weight: float = 1e-4,
        squared_reg: bool = False,
        *,
        config: LightGCNConfig | None = None,
    ) -> None:
        n_users, n_items = train.shape
        super().__init__(n_users, n_items)
        self.config = make_config(
            LightGCNConfig, config, embedding_dim=embedding_dim, n_layers=n_layers,
            reg_weight=reg_weight, squared_reg=squared_reg,
        )
        self.register_buffer("adj", normalized_adjacency(train, layout="csr"), persistent=False)
        self.user_embedding = nn.Parameter(torch.empty(self.n_users, self.embedding_dim))
        self.item_embedding = nn.Parameter(torch.empty(self.n_items, self.embedding_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform initialisation of both ego tables (as MMRec)."""
        nn.init.xavier_uniform_(self.user_embedding)
        nn.init.xavier_uniform_(self.item_embedding)
        self._cache = None

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final user and item embeddings ``H = mean_l H^l``, split into ``(H_U, H_I)``."""
        return lightgcn_readout(self.adj, self.user_embedding, self.item_embedding, self.n_layers)

    def calculate_loss(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor | None
    ) -> torch.Tensor:
        """BPR loss on propagated embeddings + ``reg_weight * EmbLoss`` on ego embeddings."""
        if neg is None:
            raise ValueError("LightGCN needs sampled negatives")
        h_users, h_items = self.forward()
        h_u, h_i, h_j = h_users[users], h_items[pos], h_items[neg]
        pos_scores = (h_u * h_i).sum(dim=1)
        neg_scores = (h_u * h_j).sum(dim=1)
        reg = emb_loss(
            self.user_embedding[users],
            self.item_embedding[pos],
            self.item_embedding[neg],
            squared=self.squared_reg,
        )
        return bpr_loss(pos_scores, neg_scores) + self.reg_weight * reg

    def compute_eval_cache(self) -> tuple[torch.Tensor, ...]:
        """Propagate once: ``(H_U, H_I)``."""
        return self.forward()

    def score_users(self, users: torch.Tensor) -> torch.Tensor:
        """``H_U[users] H_I^T`` from the cached propagation."""
        h_users, h_items = self.eval_cache()
        return h_users[users] @ h_items.T
