"""BM3: Bootstrap latent representations for Multi-modal recommendation (Zhou et al., WWW 2023).

Follows the reference code (MMRec ``models/bm3.py``); notation of the paper.

*Latent space convertor.* Ego embeddings ``H^0 = [E_U; E_I]`` go through LightGCN
(``H^{l+1} = Â H^l``), readout ``H = mean_{l=0..L} H^l``, plus the item residual
``H_I <- H_I + E_I`` (the reference's ``i_g_embeddings + h``). Each modality ``m`` (v image,
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

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from ..graph import normalized_adjacency
from .base import Recommender, add_feature_tables, emb_loss, restore_feature_tables
from .lightgcn import symmetric_propagate

MODALITY_ORDER: tuple[str, ...] = ("image", "text")
COLLAPSE_VARIANTS: tuple[str | None, ...] = (None, "no_stopgrad", "no_predictor")


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
    ) -> None:
        n_users, n_items = train.shape
        super().__init__(n_users, n_items)
        features = dict(features or {})
        if modalities is None:
            modalities = tuple(m for m in MODALITY_ORDER if m in features)
        modalities = tuple(m for m in MODALITY_ORDER if m in set(modalities))
        missing = [m for m in modalities if m not in features]
        if missing:
            raise ValueError(
                f"modalities {missing} requested but the data has features {sorted(features)}; "
                "pass modalities=() for ID-only BM3 ('w/o v&t')."
            )
        if collapse_variant not in COLLAPSE_VARIANTS:
            raise ValueError(f"collapse_variant must be one of {COLLAPSE_VARIANTS}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if embedding_dim != feat_embed_dim:
            raise ValueError("the shared predictor needs embedding_dim == feat_embed_dim")
        self.modalities = modalities
        self.embedding_dim = int(embedding_dim)
        self.feat_embed_dim = int(feat_embed_dim)
        self.n_layers = int(n_layers)
        self.dropout = float(dropout)
        self.reg_weight = float(reg_weight)
        self.cl_weight = float(cl_weight)
        self.use_inter = bool(use_inter)
        self.use_intra = bool(use_intra)
        self.collapse_variant = collapse_variant
        self.adj = normalized_adjacency(train, layout="csr")
        self.user_embedding = nn.Parameter(torch.empty(n_users, embedding_dim))
        self.item_embedding = nn.Parameter(torch.empty(n_items, embedding_dim))
        self.predictor = nn.Linear(embedding_dim, embedding_dim)
        add_feature_tables(self, features, modalities, n_items, feat_embed_dim)
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

    def hparams(self) -> dict[str, Any]:
        return {
            "modalities": list(self.modalities),
            "embedding_dim": self.embedding_dim,
            "feat_embed_dim": self.feat_embed_dim,
            "n_layers": self.n_layers,
            "dropout": self.dropout,
            "reg_weight": self.reg_weight,
            "cl_weight": self.cl_weight,
            "use_inter": self.use_inter,
            "use_intra": self.use_intra,
            "collapse_variant": self.collapse_variant,
        }

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(H_U, H_I)``: LightGCN mean readout, items plus the residual ``E_I``."""
        ego = torch.cat([self.user_embedding, self.item_embedding], dim=0)
        layers = symmetric_propagate(self.adj, ego, self.n_layers)
        final = torch.stack(layers, dim=0).mean(dim=0)
        return final[: self.n_users], final[self.n_users :] + self.item_embedding

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
        cl = torch.zeros((), dtype=hu.dtype)
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
