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

Speed: ``Â`` is a CSR tensor and the product goes through :class:`SymmetricSpMM`, which uses
``Â^T = Â`` so that the backward pass is one more CSR product instead of a transpose.
"""

from __future__ import annotations

from typing import Any

import scipy.sparse as sp
import torch
from torch import nn

from ..graph import normalized_adjacency
from .base import Recommender, bpr_loss, emb_loss


class SymmetricSpMM(torch.autograd.Function):
    """``y = Â x`` for a constant symmetric sparse ``Â``; backward ``dx = Â dy``."""

    @staticmethod
    def forward(ctx: Any, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.adj = adj
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, torch.sparse.mm(ctx.adj, grad.contiguous())


def symmetric_propagate(adj: torch.Tensor, x: torch.Tensor, n_layers: int) -> list[torch.Tensor]:
    """``[H^0, ..., H^L]`` with ``H^{l+1} = Â H^l``, ``Â`` symmetric (see :class:`SymmetricSpMM`)."""
    layers = [x]
    for _ in range(n_layers):
        layers.append(SymmetricSpMM.apply(adj, layers[-1]))
    return layers


class LightGCN(Recommender):
    """LightGCN with mean readout over layers ``0..L`` and BPR loss."""

    name = "lightgcn"
    needs_negatives = True

    def __init__(
        self,
        train: sp.spmatrix,
        embedding_dim: int = 64,
        n_layers: int = 2,
        reg_weight: float = 1e-4,
        squared_reg: bool = False,
    ) -> None:
        n_users, n_items = train.shape
        super().__init__(n_users, n_items)
        if n_layers < 0:
            raise ValueError(f"n_layers must be >= 0, got {n_layers}")
        self.embedding_dim = int(embedding_dim)
        self.n_layers = int(n_layers)
        self.reg_weight = float(reg_weight)
        self.squared_reg = bool(squared_reg)
        self.adj = normalized_adjacency(train, layout="csr")
        self.user_embedding = nn.Parameter(torch.empty(self.n_users, self.embedding_dim))
        self.item_embedding = nn.Parameter(torch.empty(self.n_items, self.embedding_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform initialisation of both ego tables (as MMRec)."""
        nn.init.xavier_uniform_(self.user_embedding)
        nn.init.xavier_uniform_(self.item_embedding)
        self._cache = None

    def hparams(self) -> dict[str, Any]:
        return {
            "embedding_dim": self.embedding_dim,
            "n_layers": self.n_layers,
            "reg_weight": self.reg_weight,
            "squared_reg": self.squared_reg,
        }

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final user and item embeddings ``H = mean_l H^l``, split into ``(H_U, H_I)``."""
        ego = torch.cat([self.user_embedding, self.item_embedding], dim=0)
        layers = symmetric_propagate(self.adj, ego, self.n_layers)
        final = torch.stack(layers, dim=0).mean(dim=0)
        return final[: self.n_users], final[self.n_users :]

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
