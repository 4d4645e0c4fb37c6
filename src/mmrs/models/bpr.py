"""BPR-MF: matrix factorisation trained with the Bayesian personalised ranking loss.

Scores ``s(u, i) = e_u · e_i`` with ``d``-dimensional embeddings (Xavier-normal init, as MMRec's
``BPR``). For a batch of ``B`` triples ``(u, i, j)`` (``j`` a sampled negative)::

    L = -(1/B) sum log sigma(s_ui - s_uj)  +  lambda * (||E_u||_F + ||E_i||_F + ||E_j||_F) / B

where ``E_u, E_i, E_j`` are the batch's ``B x d`` embedding matrices. The regulariser is MMRec's
``EmbLoss`` (Frobenius norms, **not squared**); ``squared_reg=True`` squares them instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

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


@dataclass(frozen=True)
class BPRConfig(ModelConfig):
    """:class:`BPR`'s hyper-parameters: ``d`` >= 1, ``lambda`` >= 0, squared or MMRec's norm."""

    embedding_dim: int = 64
    reg_weight: float = 1e-4
    squared_reg: bool = False

    def __post_init__(self) -> None:
        self._set("embedding_dim", check_int("embedding_dim", self.embedding_dim, 1))
        self._set("reg_weight", check_float("reg_weight", self.reg_weight, 0.0))
        self._set("squared_reg", check_bool("squared_reg", self.squared_reg))


class BPR(Recommender):
    """Matrix factorisation with the BPR loss (settings in :class:`BPRConfig`)."""

    name = "bpr"
    needs_negatives = True
    config: BPRConfig

    embedding_dim = config_property("embedding_dim")
    reg_weight = config_property("reg_weight", settable=True)
    squared_reg = config_property("squared_reg", settable=True)

    def __init__(
        self,
        n_users: int,
        n_items: int,
        embedding_dim: int = 64,
        reg_weight: float = 1e-4,
        squared_reg: bool = False,
        *,
        config: BPRConfig | None = None,
    ) -> None:
        super().__init__(n_users, n_items)
        self.config = make_config(
            BPRConfig, config,
            embedding_dim=embedding_dim, reg_weight=reg_weight, squared_reg=squared_reg,
        )
        self.user_embedding = nn.Parameter(torch.empty(self.n_users, self.embedding_dim))
        self.item_embedding = nn.Parameter(torch.empty(self.n_items, self.embedding_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-normal initialisation of both tables."""
        nn.init.xavier_normal_(self.user_embedding)
        nn.init.xavier_normal_(self.item_embedding)
        self._cache = None

    def calculate_loss(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor | None
    ) -> torch.Tensor:
        """BPR loss plus ``reg_weight * EmbLoss(e_u, e_i, e_j)`` (module docstring)."""
        if neg is None:
            raise ValueError("BPR needs sampled negatives")
        e_u = self.user_embedding[users]
        # one lookup for positives and negatives: one dense gradient for the item table per
        # batch instead of two that are then added (same values; benchmarks/bench_epoch.py)
        e_i, e_j = self.item_embedding[torch.cat([pos, neg])].split(len(pos))
        pos_scores = (e_u * e_i).sum(dim=1)
        neg_scores = (e_u * e_j).sum(dim=1)
        reg = emb_loss(e_u, e_i, e_j, squared=self.squared_reg)
        return bpr_loss(pos_scores, neg_scores) + self.reg_weight * reg

    def score_users(self, users: torch.Tensor) -> torch.Tensor:
        """``E_U[users] E_I^T`` (``[b, n_items]``)."""
        return self.user_embedding[users] @ self.item_embedding.T
