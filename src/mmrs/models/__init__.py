"""Recommenders sharing one interface (:class:`~mmrs.models.base.Recommender`).

:func:`build_model` makes one by name from an :class:`~mmrs.data.interactions.InteractionData`.
"""

from __future__ import annotations

from typing import Any

from .base import Recommender, bpr_loss, emb_loss
from .bm3 import BM3
from .bpr import BPR
from .freedom import FREEDOM
from .lightgcn import LightGCN
from .pop import MostPop
from .vbpr import VBPR

MODELS: tuple[str, ...] = ("pop", "bpr", "lightgcn", "bm3", "vbpr", "freedom")


def build_model(name: str, data: Any, **hparams: Any) -> Recommender:
    """Model ``name`` (one of :data:`MODELS`) for ``data``; ``hparams`` go to it.

    ``vbpr`` and ``freedom`` need item features (``data.features``).

    ``None`` values in ``hparams`` are dropped, so command-line defaults fall through to the
    model's own defaults.
    """
    kwargs = {k: v for k, v in hparams.items() if v is not None}
    if name == "pop":
        if kwargs:
            raise ValueError(f"MostPop takes no hyper-parameters, got {sorted(kwargs)}")
        return MostPop(data.train)
    if name == "bpr":
        return BPR(data.n_users, data.n_items, **kwargs)
    if name == "lightgcn":
        return LightGCN(data.train, **kwargs)
    if name == "bm3":
        return BM3(data.train, features=data.features, **kwargs)
    if name == "vbpr":
        return VBPR(data.n_users, data.n_items, data.features, **kwargs)
    if name == "freedom":
        return FREEDOM(data.train, data.features, **kwargs)
    raise ValueError(f"Unknown model {name!r}; choose one of {MODELS}.")


__all__ = [
    "BPR",
    "FREEDOM",
    "MODELS",
    "LightGCN",
    "MostPop",
    "Recommender",
    "VBPR",
    "bpr_loss",
    "build_model",
    "emb_loss",
]
