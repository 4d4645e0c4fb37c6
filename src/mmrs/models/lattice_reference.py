"""A reference-style LATTICE that follows MMRec's code structure (``models/lattice.py``).

Used to check :class:`~mmrs.models.lattice.LATTICE` (tests, in float64) and as the baseline of a
benchmark: the item–item graphs are **dense** ``I x I`` matrices built as MMRec does
(``build_sim`` → ``build_knn_neighbourhood`` (top-k + scatter) → ``compute_normalized_laplacian``
with ``diagflat``), the learned graph is rebuilt in the first batch after :meth:`pre_epoch` and
detached afterwards (MMRec's ``build_item_graph`` flag), the projections of all items are computed
in every batch, the item term is ``torch.mm`` with the dense graph, and the user–item graph is a
COO tensor differentiated by autograd with the ``torch.stack(..., dim=1).mean(dim=1)`` readout.
Same parameters and state-dict keys as :class:`LATTICE`, so a state dict can be copied between them.
"""

from __future__ import annotations

from typing import Any

import scipy.sparse as sp
import torch
import torch.nn.functional as F

from ..graph import propagate, random_walk_adjacency_scipy, to_torch_sparse
from .lattice import LATTICE


def dense_sim(x: torch.Tensor) -> torch.Tensor:
    """MMRec's ``build_sim``: ``X̂ X̂ᵀ`` with rows divided by their norms."""
    xn = x.div(torch.norm(x, p=2, dim=-1, keepdim=True))
    return torch.mm(xn, xn.transpose(1, 0))


def dense_knn(sim: torch.Tensor, k: int) -> torch.Tensor:
    """MMRec's ``build_knn_neighbourhood``: keep each row's ``k`` largest values, zero elsewhere."""
    values, index = torch.topk(sim, k, dim=-1)
    return torch.zeros_like(sim).scatter_(-1, index, values)


def dense_normalize(adj: torch.Tensor) -> torch.Tensor:
    """MMRec's ``compute_normalized_laplacian``: ``D^{-1/2} A D^{-1/2}`` (dense, ``diagflat``)."""
    inv_sqrt = torch.pow(torch.sum(adj, -1), -0.5)
    inv_sqrt[torch.isinf(inv_sqrt)] = 0.0
    d = torch.diagflat(inv_sqrt)
    return torch.mm(torch.mm(d, adj), d)


class ReferenceLATTICE(LATTICE):
    """:class:`LATTICE` computed MMRec's way (dense item graphs; module docstring)."""

    name = "lattice-reference"

    def __init__(self, train: sp.spmatrix, *args: Any, **kwargs: Any) -> None:
        super().__init__(train, *args, **kwargs)
        p = random_walk_adjacency_scipy(train, self_loops=True)
        self.register_buffer("adj_coo", to_torch_sparse(p, "coo"), persistent=False)
        self.dense_item_adj: torch.Tensor | None = None
        self.build_item_graph = True

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.dense_item_adj = None
        self.build_item_graph = True

    def pre_epoch(self) -> None:
        self.build_item_graph = True

    def original_dense(self, modality: str) -> torch.Tensor:
        """``S̃_m`` as a dense matrix, built once (MMRec builds ``image_original_adj`` /
        ``text_original_adj`` in ``__init__``) and rebuilt only if the dtype or device changes."""
        dtype, device = self.item_embedding.dtype, self.item_embedding.device
        cache = self.__dict__.setdefault("_original_dense", {})
        if modality not in cache or (cache[modality].dtype, cache[modality].device) != (dtype, device):
            raw = getattr(self, f"_raw_{modality}").to(dtype)
            cache[modality] = dense_normalize(dense_knn(dense_sim(raw), self.knn_k))
        return cache[modality]

    def forward_reference(self, build_item_graph: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """MMRec's ``LATTICE.forward(adj, build_item_graph)`` with ``cf_model = lightgcn``."""
        feats = {m: self.projections[m](self.feat_tables[m]) for m in self.modalities}
        if build_item_graph:
            weight = torch.softmax(self.modal_weight, dim=0)
            learned = {m: dense_knn(dense_sim(f), self.knn_k) for m, f in feats.items()}
            original = {m: self.original_dense(m) for m in self.modalities}
            if len(self.modalities) == 2:
                img, txt = self.modalities
                learned_adj = weight[0] * learned[img] + weight[1] * learned[txt]
                original_adj = weight[0] * original[img] + weight[1] * original[txt]
            else:
                (only,) = self.modalities
                learned_adj, original_adj = learned[only], original[only]
            learned_adj = dense_normalize(learned_adj)
            self.dense_item_adj = (1 - self.lambda_coeff) * learned_adj + self.lambda_coeff * original_adj
        else:
            assert self.dense_item_adj is not None
            self.dense_item_adj = self.dense_item_adj.detach()
        h = self.item_embedding
        for _ in range(self.n_layers):
            h = torch.mm(self.dense_item_adj, h)
        ego = torch.cat([self.user_embedding, self.item_embedding], dim=0)
        layers = propagate(self.adj_coo, ego, self.n_ui_layers)
        final = torch.stack(layers, dim=1).mean(dim=1)
        h_users, h_items = final[: self.n_users], final[self.n_users :]
        return h_users, h_items + F.normalize(h, p=2, dim=1)

    def loss_terms(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        h_users, h_items = self.forward_reference(self.build_item_graph)
        self.build_item_graph = False
        u, i, j = h_users[users], h_items[pos], h_items[neg]
        pos_scores = torch.sum(torch.mul(u, i), dim=1)
        neg_scores = torch.sum(torch.mul(u, j), dim=1)
        reg = (0.5 * (u**2).sum() + 0.5 * (i**2).sum() + 0.5 * (j**2).sum()) / self.reg_batch_size
        bpr = -torch.mean(F.logsigmoid(pos_scores - neg_scores))
        return {"bpr": bpr, "reg": reg, "total": bpr + self.reg_weight * reg}

    def compute_eval_cache(self) -> tuple[torch.Tensor, ...]:
        return self.forward_reference(build_item_graph=True)
