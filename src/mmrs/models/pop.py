"""MostPop: rank items by their number of training interactions.

``s(u, i) = deg_train(i) = sum_u R_ui`` for every user (not personalised). No parameters, no
training: its loss is identically zero and :func:`mmrs.train.train` only evaluates it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from .base import ModelConfig, Recommender, make_config


@dataclass(frozen=True)
class MostPopConfig(ModelConfig):
    """:class:`MostPop` has no hyper-parameters."""


class MostPop(Recommender):
    """Item popularity in the training split."""

    name = "pop"
    needs_negatives = False
    config: MostPopConfig

    def __init__(self, train: sp.spmatrix, *, config: MostPopConfig | None = None) -> None:
        n_users, n_items = train.shape
        super().__init__(n_users, n_items)
        self.config = make_config(MostPopConfig, config)
        binary = sp.csr_matrix(train, copy=True)
        binary.data[:] = 1.0
        degree = np.asarray(binary.sum(axis=0), dtype=np.float32).ravel()
        self.register_buffer("item_degree", torch.from_numpy(degree))

    def calculate_loss(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor | None
    ) -> torch.Tensor:
        """Zero: MostPop has nothing to learn."""
        return self.item_degree.new_zeros(())

    def score_users(self, users: torch.Tensor) -> torch.Tensor:
        """``[b, n_items]``: every row is the item-degree vector."""
        return self.item_degree.unsqueeze(0).expand(len(users), -1).clone()
