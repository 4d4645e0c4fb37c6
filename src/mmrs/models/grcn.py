"""GRCN: graph-refined convolutional network (Wei et al., ACM MM 2020), as MMRec has it.

*Graph refining.* For each modality ``m`` the items' features are projected and normalised,
``f_i^m = normalize(lrelu(W_m x_i^m + b))`` (``C = 64`` dims), and each user has a preference
``p_u^m = normalize(P^m_u)``. On the user–item graph with both edge directions (``2|E|`` edges
``w → v``), an attention layer scores every edge by the agreement of its two end nodes::

    x^m = [p^m; f^m],   a^m_{wv} = softmax_{w' ∈ N(v)} ( x^m_v · x^m_{w'} )      (PyG softmax per target v)
    c^m_v = x^m_v + Σ_{w ∈ N(v)} a^m_{wv} x^m_w                                 (content representation)

The edge weight is the largest modality agreement scaled by a learnt per-node, per-modality
confidence ``κ`` of the edge's *source* node, then clipped at 0 (pruning)::

    ω_{wv} = relu( max_m a^m_{wv} κ_{w,m} )                                    (weight_mode="confid")

*GCN on the refined graph.* With ``e = normalize(E)`` (ID table ``E``, ``d = 64``), two
weighted-sum layers (PyG ``aggr="add"``, no activation)::

    e^1_v = Σ_w ω_{wv} e_w,    e^2_v = Σ_w ω_{wv} e^1_w,    r_v = e_v + e^1_v + e^2_v

and the node representation is ``z_v = [r_v ; c^v_v ; c^t_v]``; ``s(u, i) = z_u · z_i``. Loss::

    L = BPR  +  λ ( mean(E[u]²) + mean(E[{i, j}]²) + [image] mean(P^v²) + Σ_m mean(P^m[u]²) )

MMRec's choices kept here (``models/grcn.py``): ``weight_mode="confid"``, pruning on,
``fusion="concat"``, no edge dropout, no activations, ``has_norm``; init Xavier-normal for ``E``,
``P^m``, ``κ`` and ``W_m`` (bias PyTorch's default). MMRec's ``n_layers`` (3) is the number of
"routing" rounds ``p ← normalize(p + (GAT(x))_users)`` run on the *one-direction* user→item edges
before the layer above; along those edges users receive no message, so each round leaves ``p``
unchanged — they are skipped here (same numbers; the reference in
:mod:`mmrs.models.mm_gnn_reference` runs them). With only text features MMRec fails (a typo,
``conetent_rep``); here the single modality's ``c`` is used.

MMRec's grid (``hyper_parameters``): ``reg_weight ∈ {0.1, 0.01, 1e-3, 1e-4, 1e-5}`` ×
``learning_rate ∈ {1, 0.1, 0.01, 1e-3, 1e-4}``.

Built on PyTorch Geometric's edge softmax (:func:`torch_geometric.utils.softmax`); the sums over
incoming edges are ``index_add_`` after one ``index_select`` gather per layer (cheaper backward
passes than advanced indexing and PyG's ``scatter``), and each user–item dot product is computed
once for both edge directions — the same numbers as MMRec's ``MessagePassing`` layers (checked
against :mod:`mmrs.models.mm_gnn_reference`). The edge lists are
:func:`mmrs.graph.bipartite_edge_index`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from ..graph import bipartite_edge_index
from .base import (
    MODALITIES,
    ModelConfig,
    Recommender,
    bpr_loss,
    check_bool,
    check_float,
    check_int,
    check_modalities,
    config_property,
    make_config,
    resolve_modalities,
)

__all__ = ["GRCN", "GRCNConfig", "WEIGHT_MODES", "attention_layer", "weighted_sum"]

WEIGHT_MODES: tuple[str, ...] = ("confid", "mean", "max")



def _edge_softmax(src: torch.Tensor, index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """PyG's :func:`torch_geometric.utils.softmax` (softmax over the edges sharing ``index``),
    imported on first use so that ``import mmrs.models`` needs neither PyG (the ``[graph]``
    extra) nor its import time."""
    import warnings

    with warnings.catch_warnings():  # PyG's own imports warn about torch.jit.script (not ours)
        warnings.simplefilter("ignore", FutureWarning)
        from torch_geometric.utils import softmax

    return softmax(src, index, num_nodes=num_nodes)

def attention_layer(x: torch.Tensor, src: torch.Tensor, dst: torch.Tensor,
                    paired: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x + Σ_w a_wv x_w, a)`` with ``a_wv = softmax_{w→v}(x_v · x_w)`` per target ``v``
    (MMRec's ``GATConv`` without self loops).

    ``paired``: the edges are ``E`` edges followed by the same ``E`` reversed (as
    :func:`mmrs.graph.bipartite_edge_index`), so each dot product is computed once and used for
    both directions, from the one gather ``x[src]`` the messages need (the same numbers)."""
    x_src = x.index_select(0, src)
    if paired:
        half = src.shape[0] // 2
        dots = (x_src[:half] * x_src[half:]).sum(dim=-1)
        dots = torch.cat([dots, dots])
    else:
        dots = (x.index_select(0, dst) * x_src).sum(dim=-1)
    alpha = _edge_softmax(dots, dst, num_nodes=x.shape[0])
    out = torch.zeros_like(x).index_add_(0, dst, x_src * alpha.unsqueeze(1))
    return x + out, alpha


def weighted_sum(x: torch.Tensor, src: torch.Tensor, dst: torch.Tensor,
                 weight: torch.Tensor) -> torch.Tensor:
    """``y_v = Σ_{w→v} ω_wv x_w`` (MMRec's ``SAGEConv`` with ``aggr="add"``)."""
    msg = x.index_select(0, src) * weight.unsqueeze(1)
    return torch.zeros_like(x).index_add_(0, dst, msg)


@dataclass(frozen=True)
class GRCNConfig(ModelConfig):
    """:class:`GRCN`'s hyper-parameters (MMRec's defaults; ``reg_weight`` has no default there,
    1e-3 is from its grid). ``modalities``: ``None`` (all the data has) or a non-empty tuple from
    ``("image", "text")``."""

    modalities: tuple[str, ...] | None = None
    embedding_dim: int = 64
    latent_dim: int = 64
    weight_mode: str = "confid"
    pruning: bool = True
    reg_weight: float = 1e-3

    def __post_init__(self) -> None:
        self._set("modalities",
                  check_modalities("modalities", self.modalities, MODALITIES, allow_empty=False))
        self._set("embedding_dim", check_int("embedding_dim", self.embedding_dim, 1))
        self._set("latent_dim", check_int("latent_dim", self.latent_dim, 1))
        if self.weight_mode not in WEIGHT_MODES:
            raise ValueError(f"weight_mode must be one of {WEIGHT_MODES}, got {self.weight_mode!r}")
        self._set("pruning", check_bool("pruning", self.pruning))
        self._set("reg_weight", check_float("reg_weight", self.reg_weight, 0.0))


class GRCN(Recommender):
    """GRCN with MMRec's conventions (module docstring; settings in :class:`GRCNConfig`)."""

    name = "grcn"
    needs_negatives = True
    config: GRCNConfig

    modalities = config_property("modalities")
    embedding_dim = config_property("embedding_dim")
    reg_weight = config_property("reg_weight", settable=True)

    def __init__(self, train: sp.spmatrix, features: dict[str, np.ndarray], *,
                 config: GRCNConfig | None = None, **kwargs: object) -> None:
        n_users, n_items = train.shape
        super().__init__(n_users, n_items)
        features = dict(features or {})
        config = make_config(GRCNConfig, config, **{**GRCNConfig.defaults(), **kwargs})
        resolved = resolve_modalities(config.modalities, features, MODALITIES, allow_empty=False)
        self.config = replace(config, modalities=resolved)
        edges = bipartite_edge_index(train)
        self.register_buffer("edge_src", edges[0].contiguous(), persistent=False)
        self.register_buffer("edge_dst", edges[1].contiguous(), persistent=False)
        n = n_users + n_items
        self.id_embedding = nn.Parameter(torch.empty(n, config.embedding_dim))
        self.confidence = nn.Parameter(torch.empty(n, len(resolved)))
        self.preferences = nn.ParameterDict()
        self.projections = nn.ModuleDict()
        for m in resolved:
            raw = np.asarray(features[m], dtype=np.float32)
            if raw.ndim != 2 or raw.shape[0] != n_items:
                raise ValueError(f"{m} features have shape {raw.shape}, expected ({n_items}, d)")
            self.register_buffer(f"features_{m}", torch.from_numpy(raw.copy()), persistent=False)
            self.preferences[m] = nn.Parameter(torch.empty(n_users, config.latent_dim))
            self.projections[m] = nn.Linear(raw.shape[1], config.latent_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-normal ``E``, ``κ``, ``P^m`` and ``W_m``; default bias (as MMRec)."""
        nn.init.xavier_normal_(self.id_embedding)
        for m in self.modalities:
            nn.init.xavier_normal_(self.preferences[m])
            self.projections[m].reset_parameters()
            nn.init.xavier_normal_(self.projections[m].weight)
        nn.init.xavier_normal_(self.confidence)
        self._cache = None

    def content(self, m: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(c^m, a^m)``: modality ``m``'s content representation and edge attention."""
        feats = F.normalize(F.leaky_relu(self.projections[m](getattr(self, f"features_{m}"))))
        x = torch.cat([F.normalize(self.preferences[m]), feats], dim=0)
        return attention_layer(x, self.edge_src, self.edge_dst, paired=True)

    def edge_weights(self, alphas: list[torch.Tensor]) -> torch.Tensor:
        """``ω`` for every edge from the modalities' attentions (module docstring)."""
        a = torch.stack(alphas, dim=1)
        if self.config.weight_mode == "mean":
            w = a.mean(dim=1)
        elif self.config.weight_mode == "max":
            w = a.max(dim=1).values
        else:
            w = (a * self.confidence.index_select(0, self.edge_src)).max(dim=1).values
        return torch.relu(w) if self.config.pruning else w

    def forward(self) -> torch.Tensor:
        """``z = [r ; c^v ; c^t]`` for all ``U + I`` nodes (users first)."""
        contents, alphas = zip(*(self.content(m) for m in self.modalities), strict=True)
        w = self.edge_weights(list(alphas))
        e = F.normalize(self.id_embedding)
        e1 = weighted_sum(e, self.edge_src, self.edge_dst, w)
        e2 = weighted_sum(e1, self.edge_src, self.edge_dst, w)
        return torch.cat([e + e1 + e2, *contents], dim=1)

    def calculate_loss(self, users: torch.Tensor, pos: torch.Tensor,
                       neg: torch.Tensor | None) -> torch.Tensor:
        """BPR + ``λ`` (ID and preference squares), module docstring."""
        if neg is None:
            raise ValueError("GRCN needs sampled negatives")
        z = self.forward()
        z_u, z_i, z_j = z[users], z[self.n_users + pos], z[self.n_users + neg]
        loss = bpr_loss((z_u * z_i).sum(1), (z_u * z_j).sum(1))
        items = self.n_users + torch.cat([pos, neg])
        reg = self.id_embedding[users].pow(2).mean() + self.id_embedding[items].pow(2).mean()
        if "image" in self.preferences:
            reg = reg + self.preferences["image"].pow(2).mean()
        for m in self.modalities:
            reg = reg + self.preferences[m][users].pow(2).mean()
        return loss + self.reg_weight * reg

    def compute_eval_cache(self) -> tuple[torch.Tensor, ...]:
        z = self.forward()
        return z[: self.n_users], z[self.n_users:]

    def score_users(self, users: torch.Tensor) -> torch.Tensor:
        """``z_u · z_i`` for all items (``[b, n_items]``)."""
        z_u, z_i = self.eval_cache()
        return z_u[users] @ z_i.T
