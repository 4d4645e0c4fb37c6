"""BM3: Bootstrap latent representations for Multi-modal recommendation (Zhou et al., WWW 2023).

Follows the reference code (MMRec ``models/bm3.py``); notation of the paper.

*Latent space convertor.* Ego embeddings ``H^0 = [E_U; E_I]`` go through LightGCN
(``H^{l+1} = Â H^l``), readout ``H = mean_{l=0..L} H^l`` (:func:`mmrs.graph.lightgcn_readout`),
plus the item residual ``H_I <- H_I + E_I`` (the reference's ``i_g_embeddings + h``; this is
where BM3 differs from LightGCN's readout, and its default is ``L = 1`` layer). Each modality ``m`` (v image,
t text) has a trainable raw table ``e_m`` (initialised with the features, **not frozen**) and a
projection ``h_m = e_m W_m + b_m`` to ``d`` (feat_embed_dim 64).

*Contrastive views.* The target is a dropped-out copy under stop-gradient,
``ḣ = sg(dropout_p(h))`` (``F.dropout``: kept entries rescaled by ``1/(1-p)``); one shared
predictor ``h̃ = h W_p + b_p`` gives the online outputs.

*Losses* with ``C(a, b) = 1 - cos(a, b)`` averaged over the batch of observed pairs (u, i)
(the reference's form; the paper writes the negative cosine, equal up to a constant)::

    L_rec   = C(h̃_u, ḣ_i) + C(h̃_i, ḣ_u)                              (symmetric)
    L_align = Σ_m C(h̃_m^i, ḣ_i)                          (inter: modality vs item ID target)
    L_mask  = Σ_m C(h̃_m^i, ḣ_m^i)                  (intra: modality vs its own dropped view)
    L = L_rec + λ (‖H_U‖_F + ‖H_I‖_F) / |I| + cl_weight (L_align + L_mask)

The regulariser is MMRec's ``EmbLoss`` on **all** users' and items' pre-predictor embeddings:
Frobenius norms, not squared, divided by the number of items. No negative sampling.

*Scoring* ``s(u, i) = h̃_u · h̃_i`` (predictor outputs of the ID/graph embeddings only).

*Efficiency.* The reference projects every item's features, applies the predictor to every
user and item and drops out full tables in each batch; here the graph is propagated once per
batch (as in the reference) but the projections, predictor and dropout touch only the batch's
unique users and items. The loss and its gradient are the same function of the parameters
(one dropout mask per distinct user/item row, as when a full table is dropped out and indexed);
gradients of the feature tables stay dense (zero rows outside the batch), so Adam updates them
exactly as in the reference. See ``benchmarks/bench_bm3.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from ..graph import lightgcn_readout, normalized_adjacency
from .base import (
    MODALITIES,
    ModelConfig,
    Recommender,
    add_feature_tables,
    check_bool,
    check_float,
    check_int,
    check_modalities,
    config_property,
    emb_loss,
    make_config,
    resolve_modalities,
    restore_feature_tables,
)

MODALITY_ORDER: tuple[str, ...] = MODALITIES
COLLAPSE_VARIANTS: tuple[str | None, ...] = (None, "no_stopgrad", "no_predictor")


@dataclass(frozen=True)
class BM3Config(ModelConfig):
    """:class:`BM3`'s hyper-parameters (defaults: the reference's).

    ``modalities``: ``None`` (every modality the data has) or a tuple from ``("image", "text")``,
    ``()`` for ID only; a built model's config holds the resolved tuple. ``feat_embed_dim`` must
    equal ``embedding_dim`` (one predictor is shared by ID and feature embeddings).
    """

    modalities: tuple[str, ...] | None = None
    embedding_dim: int = 64
    feat_embed_dim: int = 64
    n_layers: int = 1
    dropout: float = 0.5
    reg_weight: float = 0.1
    cl_weight: float = 2.0
    use_inter: bool = True
    use_intra: bool = True
    collapse_variant: str | None = None

    def __post_init__(self) -> None:
        self._set("modalities", check_modalities("modalities", self.modalities, MODALITY_ORDER))
        self._set("embedding_dim", check_int("embedding_dim", self.embedding_dim, 1))
        self._set("feat_embed_dim", check_int("feat_embed_dim", self.feat_embed_dim, 1))
        if self.feat_embed_dim != self.embedding_dim:
            raise ValueError(
                f"feat_embed_dim must equal embedding_dim ({self.embedding_dim}: the shared "
                f"predictor), got {self.feat_embed_dim}"
            )
        self._set("n_layers", check_int("n_layers", self.n_layers, 0))
        self._set("dropout", check_float("dropout", self.dropout, 0.0, 1.0, high_open=True))
        self._set("reg_weight", check_float("reg_weight", self.reg_weight, 0.0))
        self._set("cl_weight", check_float("cl_weight", self.cl_weight, 0.0))
        self._set("use_inter", check_bool("use_inter", self.use_inter))
        self._set("use_intra", check_bool("use_intra", self.use_intra))
        if self.collapse_variant not in COLLAPSE_VARIANTS:
            raise ValueError(
                f"collapse_variant must be one of {COLLAPSE_VARIANTS}, got {self.collapse_variant!r}"
            )


def cosine_loss(online: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``C(a, b) = 1 - mean_b cos(a_b, b_b)`` (the reference's ``1 - cosine_similarity(...).mean()``)."""
    return 1.0 - F.cosine_similarity(online, target, dim=-1).mean()


class BM3(Recommender):
    """BM3 with switches for the paper's ablations and a collapse demonstration.

    ``modalities``: a subset of ``("image", "text")``; ``()`` is "w/o v&t" (ID only).
    ``use_inter`` / ``use_intra``: keep ``L_align`` / ``L_mask``. ``collapse_variant``:
    ``None`` (BM3), ``"no_stopgrad"`` (targets keep their gradient) or ``"no_predictor"``
    (identity predictor, also at scoring time).
    """

    name = "bm3"
    needs_negatives = False
    config: BM3Config

    modalities = config_property("modalities")
    embedding_dim = config_property("embedding_dim")
    feat_embed_dim = config_property("feat_embed_dim")
    n_layers = config_property("n_layers", settable=True)
    dropout = config_property("dropout", settable=True)
    reg_weight = config_property("reg_weight", settable=True)
    cl_weight = config_property("cl_weight", settable=True)
    use_inter = config_property("use_inter", settable=True)
    use_intra = config_property("use_intra", settable=True)
    collapse_variant = config_property("collapse_variant", settable=True)

    def __init__(
        self,
        train: sp.spmatrix,
        features: dict[str, np.ndarray] | None = None,
        modalities: tuple[str, ...] | None = None,
        embedding_dim: int = 64,
        feat_embed_dim: int = 64,
        n_layers: int = 1,
        dropout: float = 0.5,
        reg_weight: float = 0.1,
        cl_weight: float = 2.0,
        use_inter: bool = True,
        use_intra: bool = True,
        collapse_variant: str | None = None,
        *,
        config: BM3Config | None = None,
    ) -> None:
        n_users, n_items = train.shape
        super().__init__(n_users, n_items)
        features = dict(features or {})
        config = make_config(
            BM3Config, config, modalities=modalities, embedding_dim=embedding_dim,
            feat_embed_dim=feat_embed_dim, n_layers=n_layers, dropout=dropout,
            reg_weight=reg_weight, cl_weight=cl_weight, use_inter=use_inter, use_intra=use_intra,
            collapse_variant=collapse_variant,
        )
        resolved = resolve_modalities(
            config.modalities, features, MODALITY_ORDER,
            hint="extract them first (mmrs.features), or pass modalities=() for ID-only BM3 "
            "('w/o v&t')",
        )
        self.config = replace(config, modalities=resolved)
        d = self.embedding_dim
        self.register_buffer("adj", normalized_adjacency(train, layout="csr"), persistent=False)
        self.user_embedding = nn.Parameter(torch.empty(n_users, d))
        self.item_embedding = nn.Parameter(torch.empty(n_items, d))
        self.predictor = nn.Linear(d, d)
        add_feature_tables(self, features, resolved, n_items, self.feat_embed_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform ID tables, Xavier-normal predictor/projection weights (as the reference);
        raw feature tables back to the extracted features."""
        nn.init.xavier_uniform_(self.user_embedding)
        nn.init.xavier_uniform_(self.item_embedding)
        self.predictor.reset_parameters()
        nn.init.xavier_normal_(self.predictor.weight)
        for m in self.modalities:
            self.projections[m].reset_parameters()
            nn.init.xavier_normal_(self.projections[m].weight)
        restore_feature_tables(self)
        self._cache = None

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(H_U, H_I)``: LightGCN mean readout, items plus the residual ``E_I`` (BM3's own)."""
        h_users, h_items = lightgcn_readout(
            self.adj, self.user_embedding, self.item_embedding, self.n_layers
        )
        return h_users, h_items + self.item_embedding

    def predict(self, h: torch.Tensor) -> torch.Tensor:
        """The shared predictor ``h̃ = h W_p + b_p`` (identity for ``"no_predictor"``)."""
        return h if self.collapse_variant == "no_predictor" else self.predictor(h)

    def project(self, modality: str, items: torch.Tensor | None = None) -> torch.Tensor:
        """``h_m = e_m W_m + b_m`` for ``items`` (all items when ``None``)."""
        table = self.feat_tables[modality]
        rows = table if items is None else table[items]
        return self.projections[modality](rows)

    def target(self, h: torch.Tensor) -> torch.Tensor:
        """``ḣ = sg(dropout_p(h))``; without stop-gradient for ``"no_stopgrad"``."""
        if self.collapse_variant == "no_stopgrad":
            return F.dropout(h, self.dropout, training=True)
        with torch.no_grad():
            return F.dropout(h.detach(), self.dropout, training=True)

    def loss_terms(self, users: torch.Tensor, pos: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every term of the loss for a batch of observed pairs (module docstring).

        Keys: ``rec`` (= ``ui + iu``), ``ui``, ``iu``, ``reg`` (unweighted),
        ``align_<m>`` and ``mask_<m>`` per modality, ``total``.
        """
        h_users, h_items = self.forward()
        u_rows, u_inv = torch.unique(users, return_inverse=True)
        i_rows, i_inv = torch.unique(pos, return_inverse=True)
        hu, hi = h_users[u_rows], h_items[i_rows]
        tu, ti = self.target(hu)[u_inv], self.target(hi)[i_inv]
        terms: dict[str, torch.Tensor] = {
            "ui": cosine_loss(self.predict(hu)[u_inv], ti),
            "iu": cosine_loss(self.predict(hi)[i_inv], tu),
        }
        terms["rec"] = terms["ui"] + terms["iu"]
        terms["reg"] = emb_loss(h_users, h_items)
        cl = torch.zeros((), dtype=hu.dtype, device=hu.device)
        for m in self.modalities:
            hm = self.project(m, i_rows)
            online = self.predict(hm)[i_inv]
            if self.use_inter:
                terms[f"align_{m}"] = cosine_loss(online, ti)
                cl = cl + terms[f"align_{m}"]
            if self.use_intra:
                terms[f"mask_{m}"] = cosine_loss(online, self.target(hm)[i_inv])
                cl = cl + terms[f"mask_{m}"]
        terms["total"] = terms["rec"] + self.reg_weight * terms["reg"] + self.cl_weight * cl
        return terms

    def calculate_loss(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``L`` of one batch of observed pairs; ``neg`` is ignored (no negative sampling)."""
        return self.loss_terms(users, pos)["total"]

    def compute_eval_cache(self) -> tuple[torch.Tensor, ...]:
        """``(h̃_U, h̃_I)``: predictor outputs of the propagated ID embeddings."""
        h_users, h_items = self.forward()
        return self.predict(h_users), self.predict(h_items)

    def score_users(self, users: torch.Tensor) -> torch.Tensor:
        """``s(u, i) = h̃_u · h̃_i`` for all items."""
        p_users, p_items = self.eval_cache()
        return p_users[users] @ p_items.T


def build_bm3(data: Any, **hparams: Any) -> BM3:
    """BM3 for an :class:`~mmrs.data.InteractionData` (its ``features`` and ``train``)."""
    return BM3(data.train, features=data.features, **hparams)
