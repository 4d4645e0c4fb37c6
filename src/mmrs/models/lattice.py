"""LATTICE: mining latent structures for multimedia recommendation (Zhang et al., ACM MM 2021),
as MMRec implements it (``models/lattice.py``, ``configs/model/LATTICE.yaml``).

*Weighted kNN graphs.* For a feature matrix ``X`` (rows = items) the cosine similarities
``s_ij = x_i·x_j / (‖x_i‖ ‖x_j‖)`` are computed and each row keeps its ``k`` largest (itself
included) **with their values** (MMRec's ``build_knn_neighbourhood``), then normalised on both
sides by the row sums (``compute_normalized_laplacian``)::

    A[i, j] = s_ij if j ∈ top-k_j s_ij else 0,         N(A) = D^{-1/2} A D^{-1/2},  D = diag(A 1)

*Original graphs* (once, from the raw features ``f_m``): ``S̃_m = N(A(f_m))``.
*Learned graphs* (from the projected features ``h_m = e_m W_m + b_m``, ``e_m`` a trainable raw
table initialised with the features): with modality weights ``α = softmax(w)`` (``w``
initialised ``[0.5, 0.5]``, image first)::

    Â = N(Σ_m α_m A(h_m)),       S̃ = Σ_m α_m S̃_m,       S = (1 − λ) Â + λ S̃       (λ = lambda_coeff)

(one modality: ``Â = N(A(h_m))``, ``S̃ = S̃_m``). The update rule: ``S`` is re-learned in the
**first batch of every epoch** (gradients then reach ``W_m``, ``e_m`` and ``w`` through the kept
similarities and the normalisation) and held constant (detached) for the epoch's other batches;
evaluation rebuilds it from the current parameters.

*Encoder.* Item–item propagation ``h = S^{L} E_I`` (``n_layers`` = 1), LightGCN-style mean
readout on MMRec's user–item graph ``P = D^{-1} (A + I)`` (row-normalised, with self-loops, **not**
the symmetric ``Â`` of LightGCN) over ``n_ui_layers`` = 2 layers (``len(weight_size)``), and the
item output ``h_i = h_i^{GCN} + h_i / ‖h_i‖``; ``s(u, i) = h_u · h_i``.

*Loss* for a batch of ``B`` triples ``(u, i, j)``::

    L = −mean log σ(h_u·h_i − h_u·h_j) + reg_weight · ½ (‖H_u‖² + ‖H_i‖² + ‖H_j‖²) / B_cfg

squared norms of the batch's *propagated* embeddings divided by the configured batch size
``B_cfg`` (MMRec's ``self.batch_size`` = ``train_batch_size`` 2048, also for a shorter last batch).
Learning rate ``lr · 0.96^{epoch/50}`` (MMRec's ``learning_rate_scheduler: [0.96, 50]``, via
:meth:`LATTICE.lr_factor`).

*MMRec's grid* (``LATTICE.yaml``): ``reg_weight ∈ {0, 1e-5, 1e-4, 1e-3}`` ×
``learning_rate ∈ {1e-4, 5e-4, 1e-3, 5e-3}``; fixed ``knn_k = 10``, ``lambda_coeff = 0.9``,
``n_layers = 1``, ``weight_size = [64, 64]``, ``cf_model = lightgcn`` (MMRec's ``ngcf`` and ``mf``
variants are not implemented).

*Efficiency* (same numbers up to float rounding; ``lattice_reference.py`` is MMRec's dense way,
checked against this one in the tests). MMRec stores ``S`` as a dense ``I x I`` matrix and
multiplies it densely in every batch (``O(I² d)``); here ``S`` is kept as its non-zero entries
(at most ``4k`` per row): the first batch propagates with ``index_add`` (differentiable in the
entries), the other batches and evaluation with a constant CSR matrix and its transpose
(:func:`mmrs.graph.propagate`). The similarities for the kNN are computed in row chunks without
gradients (:func:`mmrs.graph.knn_neighbours`) and only the kept ``I·k`` values are recomputed
with gradients. Projections are computed only when the graph is built (MMRec computes them in
every batch but uses them only then).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from ..graph import (
    knn_neighbours,
    lightgcn_readout,
    propagate,
    random_walk_adjacency_scipy,
    to_torch_sparse,
)
from .base import (
    MODALITIES,
    ModelConfig,
    Recommender,
    add_feature_tables,
    bpr_loss,
    check_float,
    check_int,
    check_modalities,
    config_property,
    make_config,
    resolve_modalities,
    restore_feature_tables,
)

MODALITY_ORDER: tuple[str, ...] = MODALITIES

Entries = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""A sparse ``n x n`` matrix as ``(rows, cols, values)``; repeated ``(row, col)`` pairs add up."""


def knn_entries(x: torch.Tensor, k: int, chunk: int = 1024) -> Entries:
    """The weighted kNN graph ``A(x)`` (module docstring) as entries, row-major (``k`` per row).

    Neighbours are chosen without gradients; the kept values ``cos(x_i, x_j)`` are recomputed
    from ``x`` so that they are differentiable when ``x`` is.
    """
    values, cols = knn_neighbours(x, k, chunk)
    rows = torch.arange(x.shape[0], device=x.device).repeat_interleave(k)
    cols = cols.reshape(-1)
    if x.requires_grad:
        xn = x / torch.linalg.vector_norm(x, dim=1, keepdim=True)  # MMRec's build_sim (no eps)
        values = (xn[rows] * xn[cols]).sum(dim=1)
    return rows, cols, values.reshape(-1)


def normalize_entries(entries: Entries, n: int) -> Entries:
    """``N(A) = D^{-1/2} A D^{-1/2}`` with ``D`` = row sums; rows with sum 0 get ``D^{-1/2} = 0``."""
    rows, cols, values = entries
    degree = torch.zeros(n, dtype=values.dtype, device=values.device).index_add(0, rows, values)
    inv_sqrt = degree.pow(-0.5)
    inv_sqrt = torch.where(torch.isinf(inv_sqrt), torch.zeros_like(inv_sqrt), inv_sqrt)
    return rows, cols, inv_sqrt[rows] * values * inv_sqrt[cols]


def concat_entries(*parts: tuple[Entries, torch.Tensor | float]) -> Entries:
    """``Σ_p c_p M_p`` for ``(entries_p, c_p)`` pairs, as one list of entries."""
    rows = torch.cat([e[0] for e, _ in parts])
    cols = torch.cat([e[1] for e, _ in parts])
    values = torch.cat([c * e[2] for e, c in parts])
    return rows, cols, values


def entries_propagate(entries: Entries, x: torch.Tensor, n_layers: int) -> torch.Tensor:
    """``S^{L} x`` with ``(S x)_i = Σ_{(i, j, v)} v x_j``; differentiable in ``x`` and the values."""
    rows, cols, values = entries
    h = x
    for _ in range(n_layers):
        h = torch.zeros_like(h).index_add(0, rows, values.unsqueeze(1) * h[cols])
    return h


def entries_to_csr(entries: Entries, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The constant (detached) ``S`` and ``Sᵀ`` as CSR tensors (duplicates summed)."""
    rows, cols, values = (t.detach() for t in entries)
    with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state"
        warnings.simplefilter("ignore", UserWarning)
        coo = torch.sparse_coo_tensor(torch.stack([rows, cols]), values, (n, n)).coalesce()
        return coo.to_sparse_csr(), coo.t().coalesce().to_sparse_csr()


@dataclass(frozen=True)
class LATTICEConfig(ModelConfig):
    """:class:`LATTICE`'s hyper-parameters (defaults: MMRec's ``LATTICE.yaml``; ``reg_weight``,
    gridded there, defaults to 1e-4). ``modalities``: ``None`` (every modality the data has) or a
    non-empty tuple from ``("image", "text")``. ``reg_batch_size``: the divisor of the L2 term
    (MMRec's ``train_batch_size``). ``lr_decay`` / ``lr_decay_step``: the learning rate is
    multiplied by ``lr_decay ** (epoch / lr_decay_step)``."""

    modalities: tuple[str, ...] | None = None
    embedding_dim: int = 64
    feat_embed_dim: int = 64
    knn_k: int = 10
    lambda_coeff: float = 0.9
    n_layers: int = 1
    n_ui_layers: int = 2
    reg_weight: float = 1e-4
    reg_batch_size: int = 2048
    lr_decay: float = 0.96
    lr_decay_step: int = 50

    def __post_init__(self) -> None:
        self._set(
            "modalities",
            check_modalities("modalities", self.modalities, MODALITY_ORDER, allow_empty=False),
        )
        self._set("embedding_dim", check_int("embedding_dim", self.embedding_dim, 1))
        self._set("feat_embed_dim", check_int("feat_embed_dim", self.feat_embed_dim, 1))
        self._set("knn_k", check_int("knn_k", self.knn_k, 1))
        self._set("lambda_coeff", check_float("lambda_coeff", self.lambda_coeff, 0.0, 1.0))
        self._set("n_layers", check_int("n_layers", self.n_layers, 0))
        self._set("n_ui_layers", check_int("n_ui_layers", self.n_ui_layers, 0))
        self._set("reg_weight", check_float("reg_weight", self.reg_weight, 0.0))
        self._set("reg_batch_size", check_int("reg_batch_size", self.reg_batch_size, 1))
        self._set("lr_decay", check_float("lr_decay", self.lr_decay, 0.0, 1.0, high_open=False))
        if self.lr_decay == 0.0:
            raise ValueError("lr_decay must be a number in (0, 1], got 0.0")
        self._set("lr_decay_step", check_int("lr_decay_step", self.lr_decay_step, 1))


class LATTICE(Recommender):
    """LATTICE with MMRec's conventions (module docstring; settings in :class:`LATTICEConfig`)."""

    name = "lattice"
    needs_negatives = True
    config: LATTICEConfig

    modalities = config_property("modalities")
    embedding_dim = config_property("embedding_dim")
    feat_embed_dim = config_property("feat_embed_dim")
    knn_k = config_property("knn_k")
    lambda_coeff = config_property("lambda_coeff", settable=True)
    n_layers = config_property("n_layers", settable=True)
    n_ui_layers = config_property("n_ui_layers", settable=True)
    reg_weight = config_property("reg_weight", settable=True)
    reg_batch_size = config_property("reg_batch_size", settable=True)
    lr_decay = config_property("lr_decay")
    lr_decay_step = config_property("lr_decay_step")

    def __init__(
        self,
        train: sp.spmatrix,
        features: dict[str, np.ndarray],
        modalities: tuple[str, ...] | None = None,
        embedding_dim: int = 64,
        feat_embed_dim: int = 64,
        knn_k: int = 10,
        lambda_coeff: float = 0.9,
        n_layers: int = 1,
        n_ui_layers: int = 2,
        reg_weight: float = 1e-4,
        reg_batch_size: int = 2048,
        lr_decay: float = 0.96,
        lr_decay_step: int = 50,
        *,
        config: LATTICEConfig | None = None,
    ) -> None:
        n_users, n_items = train.shape
        super().__init__(n_users, n_items)
        features = dict(features or {})
        config = make_config(
            LATTICEConfig, config, modalities=modalities, embedding_dim=embedding_dim,
            feat_embed_dim=feat_embed_dim, knn_k=knn_k, lambda_coeff=lambda_coeff,
            n_layers=n_layers, n_ui_layers=n_ui_layers, reg_weight=reg_weight,
            reg_batch_size=reg_batch_size, lr_decay=lr_decay, lr_decay_step=lr_decay_step,
        )
        resolved = resolve_modalities(config.modalities, features, MODALITY_ORDER, allow_empty=False)
        self.config = replace(config, modalities=resolved)
        if self.knn_k > n_items:
            raise ValueError(f"knn_k must be in [1, {n_items}] for {n_items} items, got {self.knn_k}")
        p = random_walk_adjacency_scipy(train, self_loops=True)
        self.register_buffer("norm_adj", to_torch_sparse(p, "csr"), persistent=False)
        self.register_buffer("norm_adj_t", to_torch_sparse(p.T.tocsr(), "csr"), persistent=False)
        for m in resolved:  # S̃_m from the raw features, once
            raw = torch.from_numpy(np.asarray(features[m], dtype=np.float32))
            rows, cols, values = normalize_entries(knn_entries(raw, self.knn_k), n_items)
            self.register_buffer(f"_orig_{m}_index", torch.stack([rows, cols]), persistent=False)
            self.register_buffer(f"_orig_{m}_values", values, persistent=False)
        self.user_embedding = nn.Parameter(torch.empty(n_users, self.embedding_dim))
        self.item_embedding = nn.Parameter(torch.empty(n_items, self.embedding_dim))
        add_feature_tables(self, features, resolved, n_items, self.feat_embed_dim)
        self.modal_weight = nn.Parameter(torch.empty(2))
        # the epoch's constant S and Sᵀ (CSR) after its first batch; None: re-learn S next batch
        self.register_buffer("item_adj", None, persistent=False)
        self.register_buffer("item_adj_t", None, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform ID tables, PyTorch's default ``Linear`` init for the projections (MMRec
        applies no other), feature tables back to the features, ``w = [0.5, 0.5]``."""
        nn.init.xavier_uniform_(self.user_embedding)
        nn.init.xavier_uniform_(self.item_embedding)
        for m in self.modalities:
            self.projections[m].reset_parameters()
        restore_feature_tables(self)
        with torch.no_grad():
            self.modal_weight.fill_(0.5)
        self.item_adj = self.item_adj_t = None
        self._cache = None

    def lr_factor(self, epoch: int) -> float:
        """``lr_decay ** (epoch / lr_decay_step)`` (MMRec's ``learning_rate_scheduler``)."""
        return self.lr_decay ** (epoch / self.lr_decay_step)

    def pre_epoch(self) -> None:
        """Re-learn the item–item graph in the next batch (MMRec's ``build_item_graph = True``)."""
        self.item_adj = self.item_adj_t = None

    def original_graph(self, modality: str) -> Entries:
        """``S̃_m`` (normalised weighted kNN of the raw features) as entries."""
        index = getattr(self, f"_orig_{modality}_index")
        return index[0], index[1], getattr(self, f"_orig_{modality}_values")

    def item_graph(self) -> Entries:
        """``S = (1 − λ) Â + λ S̃`` from the current projections (module docstring), as entries;
        differentiable when gradients are enabled."""
        n = self.n_items
        learned = {
            m: knn_entries(self.projections[m](self.feat_tables[m]), self.knn_k)
            for m in self.modalities
        }
        if len(self.modalities) == 2:
            alpha = torch.softmax(self.modal_weight, dim=0)
            img, txt = self.modalities
            mixed = concat_entries((learned[img], alpha[0]), (learned[txt], alpha[1]))
            original = concat_entries(
                (self.original_graph(img), alpha[0]), (self.original_graph(txt), alpha[1])
            )
        else:
            (only,) = self.modalities
            mixed, original = learned[only], self.original_graph(only)
        return concat_entries(
            (normalize_entries(mixed, n), 1.0 - self.lambda_coeff), (original, self.lambda_coeff)
        )

    def forward(self, item_term: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(h_U, h_I)`` given the item–item term ``h = S^L E_I``: the mean readout on ``P`` and
        ``h_I + h / ‖h‖``."""
        h_users, h_items = lightgcn_readout(
            self.norm_adj, self.user_embedding, self.item_embedding, self.n_ui_layers,
            adj_t=self.norm_adj_t,
        )
        return h_users, h_items + F.normalize(item_term, p=2, dim=1)

    def item_term(self) -> torch.Tensor:
        """``h = S^L E_I``: with a freshly learned ``S`` (differentiable) when the graph is to be
        rebuilt, else with the epoch's constant ``S``."""
        if self.item_adj is None:
            entries = self.item_graph()
            self.item_adj, self.item_adj_t = entries_to_csr(entries, self.n_items)
            return entries_propagate(entries, self.item_embedding, self.n_layers)
        return propagate(self.item_adj, self.item_embedding, self.n_layers, adj_t=self.item_adj_t)[-1]

    def loss_terms(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """``bpr``, ``reg`` (unweighted ``½ Σ ‖·‖² / B_cfg``) and ``total`` (module docstring)."""
        h_users, h_items = self.forward(self.item_term())
        hu, hi, hj = h_users[users], h_items[pos], h_items[neg]
        terms = {"bpr": bpr_loss((hu * hi).sum(1), (hu * hj).sum(1))}
        terms["reg"] = 0.5 * (hu.pow(2).sum() + hi.pow(2).sum() + hj.pow(2).sum()) / self.reg_batch_size
        terms["total"] = terms["bpr"] + self.reg_weight * terms["reg"]
        return terms

    def calculate_loss(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor | None
    ) -> torch.Tensor:
        if neg is None:
            raise ValueError("LATTICE needs sampled negatives")
        return self.loss_terms(users, pos, neg)["total"]

    def compute_eval_cache(self) -> tuple[torch.Tensor, ...]:
        """``(h_U, h_I)`` with ``S`` rebuilt from the current parameters (as MMRec's
        ``full_sort_predict``); the training graph is left as it is."""
        adj, adj_t = entries_to_csr(self.item_graph(), self.n_items)
        h = propagate(adj, self.item_embedding, self.n_layers, adj_t=adj_t)[-1]
        return self.forward(h)

    def score_users(self, users: torch.Tensor) -> torch.Tensor:
        """``h_U[users] h_Iᵀ``."""
        h_users, h_items = self.eval_cache()
        return h_users[users] @ h_items.T
