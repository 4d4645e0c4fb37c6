"""BUIR: bootstrapping user and item representations for one-class collaborative filtering
(Lee et al., SIGIR 2021), the LightGCN-encoder variant (``BUIR-nb``) of the authors' code
(github ``donalee/BUIR``, ``Models/BUIR_NB.py``). ID only; MMRec does not ship it.

*Encoders.* An online encoder ``f_θ`` and a target encoder ``f_ξ`` of the same shape: LightGCN on
the symmetric normalised bipartite graph ``Â`` (no self-loops) with mean readout over
``n_layers`` layers (:func:`mmrs.graph.lightgcn_readout`). The target starts as a copy of the
online encoder and receives **no gradient**; after every optimizer step it moves towards it
(exponential moving average, :meth:`BUIR.after_step`)::

    ξ ← τ ξ + (1 − τ) θ                                   (τ = momentum)

*Predictor* ``q(h) = h W + b`` on top of the online encoder only.

*Loss* for a batch of observed pairs ``(u, i)`` (no negatives), with ``x̄ = x / ‖x‖``::

    L = mean_b [ (2 − 2 q̄(f_θ(u))·f̄_ξ(i)) + (2 − 2 q̄(f_θ(i))·f̄_ξ(u)) ]
      = 2 C(q(f_θ(u)), f_ξ(i)) + 2 C(q(f_θ(i)), f_ξ(u))     (C(a, b) = 1 − mean cos, BM3's)
        + (wd / 2) Σ_{online, predictor} ‖θ‖²

The last term is the authors' Adam ``weight_decay`` (``wd`` = 1e-4), written as the L2 term with
the same gradient ``wd θ`` (the trainer's Adam has none).

*Score* ``s(u, i) = q(f_θ(u))·f_θ(i) + f_θ(u)·q(f_θ(i))`` (the authors' ``evaluate``).

Defaults: the authors' ``momentum`` 0.995, ``n_layers`` 3, ``weight_decay`` 1e-4, lr 1e-3;
``embedding_dim`` 64 as every model of the book (their ``latent_size`` is 250). Their optional
edge-dropout augmentation (``drop_flag``, default off) is not implemented. A grid (our choice,
the code sets none): ``momentum ∈ {0.99, 0.995, 0.999}`` × ``n_layers ∈ {1, 2, 3}``.

BM3 (:mod:`mmrs.models.bm3`) simplifies BUIR: it drops the momentum target encoder and uses a
dropped-out, stop-gradient copy of the online embeddings as the target instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from ..graph import lightgcn_readout, normalized_adjacency
from .base import ModelConfig, Recommender, check_float, check_int, config_property, make_config

__all__ = ["BUIR", "BUIRConfig", "buir_loss", "momentum_update"]


@dataclass(frozen=True)
class BUIRConfig(ModelConfig):
    """:class:`BUIR`'s hyper-parameters: ``momentum`` τ in [0, 1], ``weight_decay`` >= 0."""

    embedding_dim: int = 64
    n_layers: int = 3
    momentum: float = 0.995
    weight_decay: float = 1e-4

    def __post_init__(self) -> None:
        self._set("embedding_dim", check_int("embedding_dim", self.embedding_dim, 1))
        self._set("n_layers", check_int("n_layers", self.n_layers, 0))
        self._set("momentum", check_float("momentum", self.momentum, 0.0, 1.0))
        self._set("weight_decay", check_float("weight_decay", self.weight_decay, 0.0))


def buir_loss(
    p_u: torch.Tensor, t_i: torch.Tensor, p_i: torch.Tensor, t_u: torch.Tensor
) -> torch.Tensor:
    """``mean[(2 − 2 p̄_u·t̄_i) + (2 − 2 p̄_i·t̄_u)]`` (rows normalised with ``F.normalize``)."""
    ui = 2 - 2 * (F.normalize(p_u, dim=-1) * F.normalize(t_i, dim=-1)).sum(dim=-1)
    iu = 2 - 2 * (F.normalize(p_i, dim=-1) * F.normalize(t_u, dim=-1)).sum(dim=-1)
    return (ui + iu).mean()


@torch.no_grad()
def momentum_update(target: torch.Tensor, online: torch.Tensor, tau: float) -> None:
    """In place: ``target ← τ target + (1 − τ) online``."""
    target.mul_(tau).add_(online, alpha=1.0 - tau)


class BUIR(Recommender):
    """BUIR with a LightGCN encoder (module docstring; settings in :class:`BUIRConfig`)."""

    name = "buir"
    needs_negatives = False
    config: BUIRConfig

    embedding_dim = config_property("embedding_dim")
    n_layers = config_property("n_layers", settable=True)
    momentum = config_property("momentum", settable=True)
    weight_decay = config_property("weight_decay", settable=True)

    def __init__(
        self,
        train: sp.spmatrix,
        embedding_dim: int = 64,
        n_layers: int = 3,
        momentum: float = 0.995,
        weight_decay: float = 1e-4,
        *,
        config: BUIRConfig | None = None,
    ) -> None:
        n_users, n_items = train.shape
        super().__init__(n_users, n_items)
        self.config = make_config(
            BUIRConfig, config, embedding_dim=embedding_dim, n_layers=n_layers,
            momentum=momentum, weight_decay=weight_decay,
        )
        d = self.embedding_dim
        self.register_buffer("adj", normalized_adjacency(train, layout="csr"), persistent=False)
        self.user_embedding = nn.Parameter(torch.empty(n_users, d))
        self.item_embedding = nn.Parameter(torch.empty(n_items, d))
        self.predictor = nn.Linear(d, d)
        # the target encoder: buffers (kept in the state dict, never seen by the optimizer)
        self.register_buffer("target_user_embedding", torch.empty(n_users, d))
        self.register_buffer("target_item_embedding", torch.empty(n_items, d))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform online tables (the authors' LightGCN encoder), PyTorch's default
        ``Linear`` init for the predictor, target = copy of the online tables."""
        nn.init.xavier_uniform_(self.user_embedding)
        nn.init.xavier_uniform_(self.item_embedding)
        self.predictor.reset_parameters()
        with torch.no_grad():
            self.target_user_embedding.copy_(self.user_embedding)
            self.target_item_embedding.copy_(self.item_embedding)
        self._cache = None

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The online encoder ``(f_θ(U), f_θ(I))``."""
        return lightgcn_readout(self.adj, self.user_embedding, self.item_embedding, self.n_layers)

    def target(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The target encoder ``(f_ξ(U), f_ξ(I))``, without gradients."""
        with torch.no_grad():
            return lightgcn_readout(
                self.adj, self.target_user_embedding, self.target_item_embedding, self.n_layers
            )

    def l2(self) -> torch.Tensor:
        """``½ Σ ‖θ‖²`` over the online tables and the predictor (Adam's weight decay / wd)."""
        return 0.5 * sum(p.pow(2).sum() for p in self.parameters())

    def loss_terms(self, users: torch.Tensor, pos: torch.Tensor) -> dict[str, torch.Tensor]:
        """``bootstrap`` (the symmetric loss), ``l2`` (unweighted) and ``total``."""
        h_users, h_items = self.forward()
        t_users, t_items = self.target()
        terms = {
            "bootstrap": buir_loss(
                self.predictor(h_users[users]), t_items[pos],
                self.predictor(h_items[pos]), t_users[users],
            )
        }
        terms["l2"] = self.l2() if self.weight_decay > 0 else terms["bootstrap"].new_zeros(())
        terms["total"] = terms["bootstrap"] + self.weight_decay * terms["l2"]
        return terms

    def calculate_loss(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``L`` of one batch of observed pairs; ``neg`` is ignored (no negative sampling)."""
        return self.loss_terms(users, pos)["total"]

    def after_step(self) -> None:
        """``ξ ← τ ξ + (1 − τ) θ`` for both tables (the authors' ``_update_target``)."""
        momentum_update(self.target_user_embedding, self.user_embedding, self.momentum)
        momentum_update(self.target_item_embedding, self.item_embedding, self.momentum)

    def compute_eval_cache(self) -> tuple[torch.Tensor, ...]:
        """``(f_θ(U), f_θ(I), q(f_θ(U)), q(f_θ(I)))``."""
        h_users, h_items = self.forward()
        return h_users, h_items, self.predictor(h_users), self.predictor(h_items)

    def score_users(self, users: torch.Tensor) -> torch.Tensor:
        """``q(f_θ(u))·f_θ(i) + f_θ(u)·q(f_θ(i))`` for all items."""
        h_users, h_items, p_users, p_items = self.eval_cache()
        return p_users[users] @ h_items.T + h_users[users] @ p_items.T
