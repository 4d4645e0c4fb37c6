"""A line-by-line port of the reference BM3 training step (MMRec ``BM3.calculate_loss``).

Used as the baseline of ``benchmarks/bench_bm3.py`` and to check :class:`~mmrs.models.bm3.BM3`:
every batch it propagates the full graph with ``torch.sparse.mm`` on a COO adjacency (the
reference's propagation, differentiated by autograd), drops out the **full** user, item and modality tables
under ``torch.no_grad()``, projects **all** items' features and applies the predictor to all
users and items, and only then indexes the batch. Same parameters and state-dict keys as
:class:`BM3`, so a state dict can be copied between the two.
"""

from __future__ import annotations

from typing import Any

import scipy.sparse as sp
import torch
import torch.nn.functional as F

from ..graph import normalized_adjacency, propagate
from .base import emb_loss
from .bm3 import BM3, cosine_loss


class ReferenceBM3(BM3):
    """:class:`BM3` whose loss is computed the reference's way (full tables every batch)."""

    name = "bm3-reference"

    def __init__(self, train: sp.spmatrix, *args: Any, **kwargs: Any) -> None:
        super().__init__(train, *args, **kwargs)
        self.register_buffer("adj_coo", normalized_adjacency(train, layout="coo"), persistent=False)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """As :meth:`BM3.forward`, the reference's way: ``torch.sparse.mm`` on the COO adjacency
        differentiated by autograd (:func:`~mmrs.graph.propagate` without ``symmetric``), and
        the reference's ``torch.stack(..., dim=1).mean(dim=1)`` instead of the shared
        :func:`~mmrs.graph.lightgcn_readout` (deliberately kept: this class is the baseline)."""
        ego = torch.cat([self.user_embedding, self.item_embedding], dim=0)
        layers = propagate(self.adj_coo, ego, self.n_layers)
        final = torch.stack(layers, dim=1).mean(dim=1)
        return final[: self.n_users], final[self.n_users :] + self.item_embedding

    def loss_terms(self, users: torch.Tensor, pos: torch.Tensor) -> dict[str, torch.Tensor]:
        u_online_ori, i_online_ori = self.forward()
        feats_online = {m: self.project(m) for m in self.modalities}
        with torch.no_grad():
            u_target = F.dropout(u_online_ori.clone(), self.dropout)
            i_target = F.dropout(i_online_ori.clone(), self.dropout)
            feats_target = {m: F.dropout(f.clone(), self.dropout) for m, f in feats_online.items()}
        if self.collapse_variant == "no_stopgrad":  # targets keep the graph (demonstration only)
            u_target = F.dropout(u_online_ori, self.dropout)
            i_target = F.dropout(i_online_ori, self.dropout)
            feats_target = {m: F.dropout(f, self.dropout) for m, f in feats_online.items()}
        u_online, i_online = self.predict(u_online_ori), self.predict(i_online_ori)
        u_online, i_online = u_online[users], i_online[pos]
        u_target, i_target = u_target[users], i_target[pos]
        terms = {"ui": cosine_loss(u_online, i_target), "iu": cosine_loss(i_online, u_target)}
        terms["rec"] = terms["ui"] + terms["iu"]
        terms["reg"] = emb_loss(u_online_ori, i_online_ori)
        cl = u_online_ori.new_zeros(())
        for m in self.modalities:
            online = self.predict(feats_online[m])[pos]
            if self.use_inter:
                terms[f"align_{m}"] = cosine_loss(online, i_target)
                cl = cl + terms[f"align_{m}"]
            if self.use_intra:
                terms[f"mask_{m}"] = cosine_loss(online, feats_target[m][pos])
                cl = cl + terms[f"mask_{m}"]
        terms["total"] = terms["rec"] + self.reg_weight * terms["reg"] + self.cl_weight * cl
        return terms
