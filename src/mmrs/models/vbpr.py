"""VBPR: visual Bayesian personalised ranking (He & McAuley, AAAI 2016), as MMRec implements it.

Each user has a ``2d``-dimensional vector ``p_u``; each item has a free ID vector ``γ_i`` (``d``)
and a content vector computed from its *fixed* raw features ``f_i`` (MMRec concatenates text,
then image) through one trainable linear layer::

    q_i = [γ_i ; W f_i + b]                        (2d)
    s(u, i) = p_u · q_i

    L = -(1/B) Σ log σ(s_ui − s_uj)  +  λ (‖P_u‖_F + ‖Q_i‖_F + ‖Q_j‖_F) / B

for a batch of ``B`` triples ``(u, i, j)`` (``j`` a sampled negative); the regulariser is MMRec's
``EmbLoss`` on the batch's full 2d vectors (Frobenius norms, **not squared**). MMRec's version
drops the original paper's bias terms. The features enter the **score** directly, so an item
with few interactions still gets the content half of its vector from its photo and title —
the property Chapter 5 tests on rare items.

Initialisation as MMRec: ``P`` and ``Γ`` Xavier-uniform, ``W`` Xavier-normal, ``b = 0``.
Efficiency: MMRec projects every item's features in every batch; here only the batch's distinct
items (positives and negatives together) are projected during training (the same loss and
gradients up to float rounding), and all items once for evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from .base import (
    ModelConfig,
    Recommender,
    bpr_loss,
    check_float,
    check_int,
    check_modalities,
    config_property,
    emb_loss,
    make_config,
    resolve_modalities,
)

FEATURE_ORDER: tuple[str, ...] = ("text", "image")
"""MMRec's ``torch.cat((t_feat, v_feat), -1)``: text columns first."""


def concat_features(features: dict[str, np.ndarray], modalities: tuple[str, ...], n_items: int) -> np.ndarray:
    """The raw item features of ``modalities``, concatenated in :data:`FEATURE_ORDER` (float32).

    Raises ``ValueError`` naming what is missing when a modality is absent (see
    :func:`~mmrs.models.base.resolve_modalities`) or has the wrong number of rows.
    """
    blocks = []
    for m in resolve_modalities(modalities, features, FEATURE_ORDER, allow_empty=False):
        raw = np.asarray(features[m], dtype=np.float32)
        if raw.ndim != 2 or raw.shape[0] != n_items:
            raise ValueError(f"{m} features have shape {raw.shape}, expected ({n_items}, d)")
        blocks.append(raw)
    return np.concatenate(blocks, axis=1)


@dataclass(frozen=True)
class VBPRConfig(ModelConfig):
    """:class:`VBPR`'s hyper-parameters. ``modalities``: ``None`` (every modality the data has)
    or a non-empty tuple from ``("text", "image")``; a built model's config holds the resolved
    tuple in :data:`FEATURE_ORDER`."""

    modalities: tuple[str, ...] | None = None
    embedding_dim: int = 64
    reg_weight: float = 1e-4

    def __post_init__(self) -> None:
        self._set(
            "modalities",
            check_modalities("modalities", self.modalities, FEATURE_ORDER, allow_empty=False),
        )
        self._set("embedding_dim", check_int("embedding_dim", self.embedding_dim, 1))
        self._set("reg_weight", check_float("reg_weight", self.reg_weight, 0.0))


class VBPR(Recommender):
    """VBPR with MMRec's conventions (module docstring; settings in :class:`VBPRConfig`)."""

    name = "vbpr"
    needs_negatives = True
    config: VBPRConfig

    modalities = config_property("modalities")
    embedding_dim = config_property("embedding_dim")
    reg_weight = config_property("reg_weight", settable=True)

    def __init__(
        self,
        n_users: int,
        n_items: int,
        features: dict[str, np.ndarray],
        modalities: tuple[str, ...] | None = None,
        embedding_dim: int = 64,
        reg_weight: float = 1e-4,
        *,
        config: VBPRConfig | None = None,
    ) -> None:
        super().__init__(n_users, n_items)
        features = dict(features or {})
        config = make_config(
            VBPRConfig, config,
            modalities=modalities, embedding_dim=embedding_dim, reg_weight=reg_weight,
        )
        resolved = resolve_modalities(config.modalities, features, FEATURE_ORDER, allow_empty=False)
        self.config = replace(config, modalities=resolved)
        raw = concat_features(features, resolved, self.n_items)
        self.register_buffer("raw_features", torch.from_numpy(raw.copy()), persistent=False)
        self.user_embedding = nn.Parameter(torch.empty(self.n_users, 2 * self.embedding_dim))
        self.item_embedding = nn.Parameter(torch.empty(self.n_items, self.embedding_dim))
        self.item_linear = nn.Linear(raw.shape[1], self.embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform ``P`` and ``Γ``; Xavier-normal ``W`` and zero ``b`` (as MMRec)."""
        nn.init.xavier_uniform_(self.user_embedding)
        nn.init.xavier_uniform_(self.item_embedding)
        nn.init.xavier_normal_(self.item_linear.weight)
        nn.init.zeros_(self.item_linear.bias)
        self._cache = None

    def item_vectors(self, items: torch.Tensor | None = None, unique: bool = False) -> torch.Tensor:
        """``q_i = [γ_i ; W f_i + b]`` for ``items`` (all items when ``None``). ``unique``: project
        each distinct item once and repeat the rows (the same values; fewer rows to gather and
        multiply when a batch repeats items)."""
        if items is None:
            return torch.cat([self.item_embedding, self.item_linear(self.raw_features)], dim=1)
        if unique:
            rows, inverse = torch.unique(items, return_inverse=True)
            content = self.item_linear(self.raw_features[rows])[inverse]
        else:
            content = self.item_linear(self.raw_features[items])
        return torch.cat([self.item_embedding[items], content], dim=1)

    def calculate_loss(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor | None
    ) -> torch.Tensor:
        """BPR loss + ``reg_weight * EmbLoss(p_u, q_i, q_j)`` (module docstring)."""
        if neg is None:
            raise ValueError("VBPR needs sampled negatives")
        p_u = self.user_embedding[users]
        q_i, q_j = self.item_vectors(torch.cat([pos, neg]), unique=True).split(len(pos))
        pos_scores = (p_u * q_i).sum(dim=1)
        neg_scores = (p_u * q_j).sum(dim=1)
        return bpr_loss(pos_scores, neg_scores) + self.reg_weight * emb_loss(p_u, q_i, q_j)

    def compute_eval_cache(self) -> tuple[torch.Tensor, ...]:
        """``Q`` for all items, computed once per evaluation."""
        return (self.item_vectors(),)

    def score_users(self, users: torch.Tensor) -> torch.Tensor:
        """``P[users] Qᵀ`` (``[b, n_items]``)."""
        (q,) = self.eval_cache()
        return self.user_embedding[users] @ q.T
