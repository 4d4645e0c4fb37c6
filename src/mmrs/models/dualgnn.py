"""DualGNN: dual graph neural network (Wang et al., IEEE TMM 2021), as MMRec has it.

*Single-modality graphs.* For each modality ``m`` the item features go through a two-layer MLP,
``f_i^m = W_2 lrelu(W_1 x_i^m + b_1) + b_2`` (``x → 256 → 64``); each user has a preference
``p_u^m``. On the user–item graph with ``Â = D^{-1/2} A D^{-1/2}`` (PyG ``aggr="add"`` with
MMRec's degree normalisation; :func:`mmrs.graph.normalized_adjacency`)::

    x^m = normalize([P^m; F^m]),    g^m = x^m + Â x^m + Â² x^m

*Fusion* (``construction="weighted_sum"``) with a learnt per-user modality weight
``w_u ∈ R²`` (softmax-initialised) and items summing the modalities::

    g_i = g^v_i + g^t_i,     ĝ_u = w_u,0 (g^v_u + g^t_u) + w_u,1 g^t_u

The ``g^v + g^t`` in the user's first term is MMRec's: ``representation = self.v_rep;
representation += self.t_rep`` adds in place, so ``v_rep`` already holds the sum when the user
weights are applied. Kept here for faithfulness.

*User co-occurrence graph.* ``C = R Rᵀ`` off the diagonal counts the items two users share; each
user keeps its ``k = 40`` strongest co-occurring users (MMRec's preprocessing keeps the top 200,
DualGNN the first ``k`` of those; ties here by lower user index). A user with ``0 < n < k``
neighbours is padded to ``k`` before every epoch by copying uniformly drawn earlier entries
(MMRec's ``topk_sample``; a user without neighbours gets nothing). With ``β_u = softmax`` of the
``k`` counts (``user_aggr="softmax"``; ``"mean"`` gives ``1/k``)::

    z_u = ĝ_u + Σ_k β_uk ĝ_{n_uk},     z_i = g_i,     s(u, i) = z_u · z_i

Loss (note MMRec's base-2 logarithm)::

    L = -(1/B) Σ log₂ σ(s_ui − s_uj) + λ ( Σ_m mean(P^m[u]²) + mean(w_U²) + mean(w_I²) )

``w_I`` (a per-item weight) enters only this penalty in MMRec. Its item dropping
(``edge_index_dropv`` / ``dropt``) builds graphs that its ``GCN.forward`` never uses, so it is
left out; so are its unused ``MLP_v``, ``MLP_t`` and ``MLP_user``. Init: ``P^m``, ``w_U``, ``w_I``
Xavier-normal (then softmax over the 2 modalities for ``w``), MLPs PyTorch's default. With a
single modality ``ĝ_u = g^m_u`` and ``g_i = g^m_i``.

MMRec's grid (``hyper_parameters``): ``aggr_mode ∈ {add}`` × ``learning_rate ∈ {0.1, 0.01, 1e-3,
1e-4, 1e-5}`` × ``reg_weight ∈ {0.1, 0.01, 1e-3, 1e-4, 1e-5}``.

Speed: MMRec's ``Base_gcn`` (PyG ``MessagePassing``) recomputes the degree normalisation on
every call; here it is the precomputed ``Â`` in one sparse product (:func:`mmrs.graph.propagate`),
and the user graph is one sparse ``U × U`` product instead of a ``[U, k, d]`` gather — the same
numbers (checked against :mod:`mmrs.models.mm_gnn_reference`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from ..graph import normalized_adjacency, propagate
from .base import (
    MODALITIES,
    ModelConfig,
    Recommender,
    check_float,
    check_int,
    check_modalities,
    config_property,
    make_config,
    resolve_modalities,
)

__all__ = ["DualGNN", "DualGNNConfig", "USER_AGGR", "co_occurrence_neighbours", "sample_user_graph"]

USER_AGGR: tuple[str, ...] = ("softmax", "mean")


def co_occurrence_neighbours(train: sp.spmatrix, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(index [U, k], count [U, k], n [U])``: each user's ``k`` users sharing the most training
    items (``C = R Rᵀ``, diagonal removed; ties by lower index), their shared-item counts, and how
    many exist (``n_u <= k``; rows are zero-filled past ``n_u``)."""
    r = sp.csr_matrix(train, dtype=np.float32)
    r.data[:] = 1.0
    c = (r @ r.T).tocsr()
    c.setdiag(0)
    c.eliminate_zeros()
    n_users = r.shape[0]
    index = np.zeros((n_users, k), dtype=np.int64)
    count = np.zeros((n_users, k), dtype=np.float32)
    n = np.zeros(n_users, dtype=np.int64)
    for u in range(n_users):
        cols = c.indices[c.indptr[u]:c.indptr[u + 1]]
        vals = c.data[c.indptr[u]:c.indptr[u + 1]]
        order = np.lexsort((cols, -vals))[:k]
        n[u] = len(order)
        index[u, : n[u]] = cols[order]
        count[u, : n[u]] = vals[order]
    return index, count, n


def sample_user_graph(index: torch.Tensor, count: torch.Tensor, n: torch.Tensor, user_aggr: str,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(index, β)`` of MMRec's ``topk_sample``: rows with ``0 < n_u < k`` padded (entry ``p``
    copies entry ``⌊ρ p⌋``, ``ρ ~ U[0, 1)``, for ``p = n_u .. k-1``); ``β_u`` = softmax of the
    counts (or ``1/k``), zero for users without neighbours."""
    index, count = index.clone(), count.clone()
    users, k = index.shape
    rows = torch.arange(users)
    for p in range(1, k):
        pad = (n > 0) & (n <= p)
        if not bool(pad.any()):
            continue
        pick = (torch.rand(users, generator=generator) * p).long()
        index[pad, p] = index[rows[pad], pick[pad]]
        count[pad, p] = count[rows[pad], pick[pad]]
    beta = torch.softmax(count, dim=1) if user_aggr == "softmax" else torch.full_like(count, 1.0 / k)
    beta[n == 0] = 0.0
    return index, beta


@dataclass(frozen=True)
class DualGNNConfig(ModelConfig):
    """:class:`DualGNN`'s hyper-parameters (MMRec's defaults; ``reg_weight`` has no default there,
    1e-3 is from its grid). ``modalities``: ``None`` (all the data has) or a non-empty tuple from
    ``("image", "text")``; ``embedding_dim`` is MMRec's ``dim_latent`` (64), ``knn_k`` its ``k``."""

    modalities: tuple[str, ...] | None = None
    embedding_dim: int = 64
    mlp_hidden_dim: int = 256
    knn_k: int = 40
    user_aggr: str = "softmax"
    reg_weight: float = 1e-3

    def __post_init__(self) -> None:
        self._set("modalities",
                  check_modalities("modalities", self.modalities, MODALITIES, allow_empty=False))
        self._set("embedding_dim", check_int("embedding_dim", self.embedding_dim, 1))
        self._set("mlp_hidden_dim", check_int("mlp_hidden_dim", self.mlp_hidden_dim, 1))
        self._set("knn_k", check_int("knn_k", self.knn_k, 1))
        if self.user_aggr not in USER_AGGR:
            raise ValueError(f"user_aggr must be one of {USER_AGGR}, got {self.user_aggr!r}")
        self._set("reg_weight", check_float("reg_weight", self.reg_weight, 0.0))


class DualGNN(Recommender):
    """DualGNN with MMRec's conventions (module docstring; settings in :class:`DualGNNConfig`)."""

    name = "dualgnn"
    needs_negatives = True
    config: DualGNNConfig

    modalities = config_property("modalities")
    embedding_dim = config_property("embedding_dim")
    reg_weight = config_property("reg_weight", settable=True)

    def __init__(self, train: sp.spmatrix, features: dict[str, np.ndarray], *,
                 config: DualGNNConfig | None = None, **kwargs: object) -> None:
        n_users, n_items = train.shape
        super().__init__(n_users, n_items)
        features = dict(features or {})
        config = make_config(DualGNNConfig, config, **{**DualGNNConfig.defaults(), **kwargs})
        resolved = resolve_modalities(config.modalities, features, MODALITIES, allow_empty=False)
        self.config = replace(config, modalities=resolved)
        self.register_buffer("norm_adj", normalized_adjacency(train), persistent=False)
        index, count, n = co_occurrence_neighbours(train, config.knn_k)
        self.register_buffer("nbr_index", torch.from_numpy(index), persistent=False)
        self.register_buffer("nbr_count", torch.from_numpy(count), persistent=False)
        self.register_buffer("nbr_n", torch.from_numpy(n), persistent=False)
        d, hidden = config.embedding_dim, config.mlp_hidden_dim
        self.preferences = nn.ParameterDict()
        self.mlps = nn.ModuleDict()
        for m in resolved:
            raw = np.asarray(features[m], dtype=np.float32)
            if raw.ndim != 2 or raw.shape[0] != n_items:
                raise ValueError(f"{m} features have shape {raw.shape}, expected ({n_items}, d)")
            self.register_buffer(f"features_{m}", torch.from_numpy(raw.copy()), persistent=False)
            self.preferences[m] = nn.Parameter(torch.empty(n_users, d))
            self.mlps[m] = nn.Sequential(nn.Linear(raw.shape[1], hidden), nn.LeakyReLU(),
                                         nn.Linear(hidden, d))
        self.weight_u = nn.Parameter(torch.empty(n_users, 2, 1))
        self.weight_i = nn.Parameter(torch.empty(n_items, 2, 1))
        self.register_buffer("user_graph", None, persistent=False)  # S, set by pre_epoch
        self.register_buffer("user_graph_t", None, persistent=False)  # Sᵀ
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-normal ``P^m``; MLPs default; ``w`` Xavier-normal then softmax (as MMRec)."""
        for m in self.modalities:
            nn.init.xavier_normal_(self.preferences[m])
            for layer in self.mlps[m]:
                if isinstance(layer, nn.Linear):
                    layer.reset_parameters()
        with torch.no_grad():
            for w in (self.weight_u, self.weight_i):
                nn.init.xavier_normal_(w)
                w.copy_(torch.softmax(w, dim=1))
        self.pre_epoch()
        self._cache = None

    def pre_epoch(self) -> None:
        """Re-sample the padded user graph (MMRec's ``pre_epoch_processing``), as a sparse
        ``U × U`` matrix ``S`` with ``S_uv = Σ_k β_uk [n_uk = v]`` and its transpose."""
        index, beta = sample_user_graph(self.nbr_index.cpu(), self.nbr_count.cpu(),
                                        self.nbr_n.cpu(), self.config.user_aggr)
        users, k = index.shape
        rows = torch.arange(users).repeat_interleave(k)
        dtype, device = self.weight_u.dtype, self.weight_u.device
        s = torch.sparse_coo_tensor(torch.stack([rows, index.reshape(-1)]),
                                    beta.reshape(-1).to(dtype), (users, users),
                                    check_invariants=False).coalesce()
        self.user_graph = s.to_sparse_csr().to(device)
        self.user_graph_t = s.t().coalesce().to_sparse_csr().to(device)
        self._cache = None

    def modality_graph(self, m: str) -> torch.Tensor:
        """``g^m = x + Â x + Â² x`` with ``x = normalize([P^m; MLP(F^m)])``."""
        feats = self.mlps[m](getattr(self, f"features_{m}"))
        x = F.normalize(torch.cat([self.preferences[m], feats], dim=0))
        return torch.stack(propagate(self.norm_adj, x, 2, symmetric=True)).sum(dim=0)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z_U, z_I)`` (module docstring)."""
        g = {m: self.modality_graph(m) for m in self.modalities}
        items = sum(g.values())
        assert isinstance(items, torch.Tensor)
        if len(g) == 2:
            w = self.weight_u[:, :, 0]
            users = w[:, :1] * items[: self.n_users] + w[:, 1:] * g["text"][: self.n_users]
        else:
            users = items[: self.n_users]
        assert self.user_graph is not None and self.user_graph_t is not None
        h = propagate(self.user_graph, users, 1, adj_t=self.user_graph_t)[1]
        return users + h, items[self.n_users:]

    def calculate_loss(self, users: torch.Tensor, pos: torch.Tensor,
                       neg: torch.Tensor | None) -> torch.Tensor:
        """``-mean log₂ σ(s_ui − s_uj)`` + ``λ`` (module docstring)."""
        if neg is None:
            raise ValueError("DualGNN needs sampled negatives")
        z_users, z_items = self.forward()
        z_u = z_users[users]
        diff = (z_u * z_items[pos]).sum(1) - (z_u * z_items[neg]).sum(1)
        loss = -F.logsigmoid(diff).mean() / math.log(2.0)
        reg = sum(self.preferences[m][users].pow(2).mean() for m in self.modalities)
        reg = reg + self.weight_u.pow(2).mean() + self.weight_i.pow(2).mean()
        return loss + self.reg_weight * reg

    def compute_eval_cache(self) -> tuple[torch.Tensor, ...]:
        return self.forward()

    def score_users(self, users: torch.Tensor) -> torch.Tensor:
        """``z_u · z_i`` for all items (``[b, n_items]``)."""
        z_u, z_i = self.eval_cache()
        return z_u[users] @ z_i.T
