"""MMGCN: multi-modal graph convolution network (Wei et al., ACM MM 2019), as MMRec has it.

One graph network per modality ``m`` on the user–item graph (both edge directions, no self
loops). Each user has a modality preference ``p_u^m``; each item enters with its features, the
image ones first projected to 256 dims (``f_i = W_mlp x_i + b``, MMRec's ``dim_latent=256``; text
goes in raw). Every node ``v`` also has one ID embedding ``e_v`` (``d = 64``) shared by the
modalities. With ``x^0 = normalize([P^m; F^m])`` (row-wise L2) each of the ``L = 3`` layers is::

    h_v   = lrelu( mean_{w ∈ N(v)} (x^l W_conv^l)_w )              (aggregation, PyG aggr="mean")
    x̂_v   = lrelu( W_lin^l x_v^l + b ) + e_v                        (the ID is added back)
    x_v^{l+1} = lrelu( W_g^l [h_v ; x̂_v] + b )                      (concatenation combiner)

``lrelu`` = leaky ReLU (slope 0.01). The output is the mean over modalities,
``z_v = (1/M) Σ_m x_v^{L,m}``, and ``s(u, i) = z_u · z_i``. Loss for a batch of ``B`` triples::

    L = -(1/B) Σ log σ(s_ui − s_uj)  +  λ ( mean(E[u]²) + mean(E[{i, j}]²) + [image] mean(P^v²) )

(means over all entries; ``E`` the ID table, ``P^v`` the whole image preference table).

MMRec's choices kept here (``models/mmgcn.py``):

* three layers, although ``MMGCN.yaml`` says ``n_layers: 2`` (its GCN ignores the value);
* the *concatenation* combiner: MMRec sets ``self.concate = 'False'``, a non-empty string, which
  Python reads as true (``concat=False`` gives the additive combiner ``lrelu(W_g h + x̂)``);
* the ID table and the preference tables are plain tensors, not ``nn.Parameter``, so the optimizer
  never updates them: they stay at their Xavier-normal initialisation and the ``λ`` term does not
  change training (``trainable_embeddings=True`` makes them parameters, as the paper intends);
* initialisation: ``W_conv``, ``W_lin`` and ``W_g^1`` Xavier-normal, ``W_g^{2,3}`` and the image
  MLP PyTorch's default ``Linear`` init;
* MMRec scores with the representation of the last training batch; here evaluation recomputes it
  with the current parameters.

MMRec's grid (``hyper_parameters``): ``reg_weight ∈ {0, 1e-5, 1e-4, 1e-3, 1e-2, 0.1}`` ×
``learning_rate ∈ {1e-4, 5e-4, 1e-3, 5e-3, 1e-2}``.

Speed: MMRec aggregates with PyG's ``MessagePassing`` (gather along 2|E| edges, scatter-mean).
Here the mean is one sparse product with ``D^{-1} A`` (:func:`mmrs.graph.random_walk_adjacency_scipy`,
:func:`mmrs.graph.propagate` with its transpose for the backward pass): the same numbers
(``tests/test_mmgcn_grcn_dualgnn.py`` checks against a PyG reference,
:mod:`mmrs.models.mm_gnn_reference`), and faster (measured in ``benchmarks/bench_lattice_grcn.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from ..graph import propagate, random_walk_adjacency_scipy, to_torch_sparse
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

__all__ = ["MMGCN", "MMGCNConfig", "ModalityGCN"]


@dataclass(frozen=True)
class MMGCNConfig(ModelConfig):
    """:class:`MMGCN`'s hyper-parameters (MMRec's defaults; ``reg_weight`` has no default there,
    1e-4 is from its grid). ``modalities``: ``None`` (all the data has) or a non-empty tuple from
    ``("image", "text")``. ``image_latent_dim``: the image MLP's output (0: raw image features)."""

    modalities: tuple[str, ...] | None = None
    embedding_dim: int = 64
    image_latent_dim: int = 256
    n_layers: int = 3
    concat: bool = True
    reg_weight: float = 1e-4
    trainable_embeddings: bool = False

    def __post_init__(self) -> None:
        self._set("modalities",
                  check_modalities("modalities", self.modalities, MODALITIES, allow_empty=False))
        self._set("embedding_dim", check_int("embedding_dim", self.embedding_dim, 1))
        self._set("image_latent_dim", check_int("image_latent_dim", self.image_latent_dim, 0))
        self._set("n_layers", check_int("n_layers", self.n_layers, 1))
        self._set("concat", check_bool("concat", self.concat))
        self._set("reg_weight", check_float("reg_weight", self.reg_weight, 0.0))
        self._set("trainable_embeddings",
                  check_bool("trainable_embeddings", self.trainable_embeddings))


class ModalityGCN(nn.Module):
    """One modality's graph network (module docstring): ``x^0 = normalize([P; F])``, then
    ``n_layers`` of aggregation + ID-added transform + combiner."""

    def __init__(self, n_users: int, features: np.ndarray, latent_dim: int, dim: int,
                 n_layers: int, concat: bool, trainable: bool) -> None:
        super().__init__()
        raw = torch.from_numpy(np.asarray(features, dtype=np.float32).copy())
        self.register_buffer("features", raw, persistent=False)
        self.concat = concat
        self.mlp = nn.Linear(raw.shape[1], latent_dim) if latent_dim else None
        in_dim = latent_dim or raw.shape[1]
        self.preference = nn.Parameter(torch.empty(n_users, in_dim), requires_grad=trainable)
        dims = [in_dim] + [dim] * (n_layers - 1)
        self.conv = nn.ParameterList([nn.Parameter(torch.empty(k, k)) for k in dims])
        self.linear = nn.ModuleList([nn.Linear(k, dim) for k in dims])
        self.gate = nn.ModuleList([nn.Linear(k + dim if concat else k, dim) for k in dims])

    def reset_parameters(self) -> None:
        """Xavier-normal preference, ``W_conv``, ``W_lin`` and first ``W_g``; default init else."""
        nn.init.xavier_normal_(self.preference)
        if self.mlp is not None:
            self.mlp.reset_parameters()
        for layer, (conv, lin, gate) in enumerate(zip(self.conv, self.linear, self.gate, strict=True)):
            nn.init.xavier_normal_(conv)
            lin.reset_parameters()
            nn.init.xavier_normal_(lin.weight)
            gate.reset_parameters()
            if layer == 0:
                nn.init.xavier_normal_(gate.weight)

    def forward(self, mean_adj: torch.Tensor, mean_adj_t: torch.Tensor,
                id_embedding: torch.Tensor) -> torch.Tensor:
        """``x^L`` for all ``U + I`` nodes (module docstring)."""
        feats = self.mlp(self.features) if self.mlp is not None else self.features
        x = F.normalize(torch.cat([self.preference, feats], dim=0))
        for conv, lin, gate in zip(self.conv, self.linear, self.gate, strict=True):
            h = F.leaky_relu(propagate(mean_adj, x @ conv, 1, adj_t=mean_adj_t)[1])
            x_hat = F.leaky_relu(lin(x)) + id_embedding
            x = F.leaky_relu(gate(torch.cat([h, x_hat], dim=1)) if self.concat
                             else gate(h) + x_hat)
        return x


class MMGCN(Recommender):
    """MMGCN with MMRec's conventions (module docstring; settings in :class:`MMGCNConfig`)."""

    name = "mmgcn"
    needs_negatives = True
    config: MMGCNConfig

    modalities = config_property("modalities")
    embedding_dim = config_property("embedding_dim")
    reg_weight = config_property("reg_weight", settable=True)

    def __init__(self, train: sp.spmatrix, features: dict[str, np.ndarray], *,
                 config: MMGCNConfig | None = None, **kwargs: object) -> None:
        n_users, n_items = train.shape
        super().__init__(n_users, n_items)
        features = dict(features or {})
        config = make_config(MMGCNConfig, config, **{**MMGCNConfig.defaults(), **kwargs})
        resolved = resolve_modalities(config.modalities, features, MODALITIES, allow_empty=False)
        self.config = replace(config, modalities=resolved)
        mean_adj = random_walk_adjacency_scipy(train, self_loops=False)
        self.register_buffer("mean_adj", to_torch_sparse(mean_adj), persistent=False)
        self.register_buffer("mean_adj_t", to_torch_sparse(mean_adj.T.tocsr()), persistent=False)
        d = self.embedding_dim
        self.id_embedding = nn.Parameter(torch.empty(n_users + n_items, d),
                                         requires_grad=config.trainable_embeddings)
        self.gcns = nn.ModuleDict()
        for m in resolved:
            raw = np.asarray(features[m])
            if raw.ndim != 2 or raw.shape[0] != n_items:
                raise ValueError(f"{m} features have shape {raw.shape}, expected ({n_items}, d)")
            latent = config.image_latent_dim if m == "image" else 0
            self.gcns[m] = ModalityGCN(n_users, raw, latent, d, config.n_layers, config.concat,
                                       config.trainable_embeddings)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-normal ID table, then each modality's network (:meth:`ModalityGCN.reset_parameters`)."""
        nn.init.xavier_normal_(self.id_embedding)
        for gcn in self.gcns.values():
            gcn.reset_parameters()
        self._cache = None

    def forward(self) -> torch.Tensor:
        """``z = (1/M) Σ_m x^{L,m}`` for all ``U + I`` nodes (users first)."""
        outs = [g(self.mean_adj, self.mean_adj_t, self.id_embedding) for g in self.gcns.values()]
        return torch.stack(outs).mean(dim=0) if len(outs) > 1 else outs[0]

    def calculate_loss(self, users: torch.Tensor, pos: torch.Tensor,
                       neg: torch.Tensor | None) -> torch.Tensor:
        """BPR + ``λ`` (ID and image-preference squares), module docstring."""
        if neg is None:
            raise ValueError("MMGCN needs sampled negatives")
        z = self.forward()
        z_u, z_i, z_j = z[users], z[self.n_users + pos], z[self.n_users + neg]
        loss = bpr_loss((z_u * z_i).sum(1), (z_u * z_j).sum(1))
        items = self.n_users + torch.cat([pos, neg])
        reg = self.id_embedding[users].pow(2).mean() + self.id_embedding[items].pow(2).mean()
        if "image" in self.gcns:
            reg = reg + self.gcns["image"].preference.pow(2).mean()
        return loss + self.reg_weight * reg

    def compute_eval_cache(self) -> tuple[torch.Tensor, ...]:
        z = self.forward()
        return z[: self.n_users], z[self.n_users:]

    def score_users(self, users: torch.Tensor) -> torch.Tensor:
        """``z_u · z_i`` for all items (``[b, n_items]``)."""
        z_u, z_i = self.eval_cache()
        return z_u[users] @ z_i.T
