"""Recommenders sharing one interface (:class:`~mmrs.models.base.Recommender`).

:func:`build_model` makes one by name from an :class:`~mmrs.data.interactions.InteractionData`.
Each model's hyper-parameters are a small frozen config dataclass (:data:`MODEL_CONFIGS`);
:func:`model_config_fields` lists them with their defaults.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .base import MODALITIES, ModelConfig, Recommender, bpr_loss, emb_loss, resolve_modalities
from .bm3 import BM3, BM3Config
from .bpr import BPR, BPRConfig
from .buir import BUIR, BUIRConfig
from .dualgnn import DualGNN, DualGNNConfig
from .freedom import FREEDOM, FREEDOMConfig
from .grcn import GRCN, GRCNConfig
from .itemknn import ItemKNN, ItemKNNConfig
from .lattice import LATTICE, LATTICEConfig
from .lightgcn import LightGCN, LightGCNConfig
from .mmgcn import MMGCN, MMGCNConfig
from .oracle import OracleConfig, UtilityOracle
from .pop import MostPop, MostPopConfig
from .vbpr import VBPR, VBPRConfig

MODELS: tuple[str, ...] = ("pop", "bpr", "lightgcn", "bm3", "vbpr", "freedom", "itemknn", "lattice", "buir",
                         "mmgcn", "grcn", "dualgnn")

MODEL_CONFIGS: dict[str, type[ModelConfig]] = {
    "pop": MostPopConfig,
    "bpr": BPRConfig,
    "lightgcn": LightGCNConfig,
    "bm3": BM3Config,
    "vbpr": VBPRConfig,
    "freedom": FREEDOMConfig,
    "itemknn": ItemKNNConfig,
    "lattice": LATTICEConfig,
    "buir": BUIRConfig,
    "mmgcn": MMGCNConfig,
    "grcn": GRCNConfig,
    "dualgnn": DualGNNConfig,
}
"""Model name (each of :data:`MODELS`) -> its config dataclass (field = hyper-parameter)."""


def _config_class(name: str) -> type[ModelConfig]:
    if name not in MODEL_CONFIGS:
        raise ValueError(f"Unknown model {name!r}; choose one of {MODELS}.")
    return MODEL_CONFIGS[name]


def model_config_fields(name: str) -> dict[str, Any]:
    """Hyper-parameter name -> default value of model ``name`` (in the config's field order)."""
    return {f.name: f.default for f in dataclasses.fields(_config_class(name))}


def build_model(name: str, data: Any, **hparams: Any) -> Recommender:
    """Model ``name`` (one of :data:`MODELS`) for ``data``; ``hparams`` go to its config.

    ``vbpr``, ``freedom`` and ``lattice`` need item features (``data.features``); ``buir`` is ID only.

    ``None`` values in ``hparams`` are dropped, so command-line defaults fall through to the
    model's own defaults. An unknown model name or hyper-parameter key is a ``ValueError`` that
    lists the valid ones; invalid values are rejected by the config (``ValueError`` naming the field).
    """
    config_class = _config_class(name)
    kwargs = {k: v for k, v in hparams.items() if v is not None}
    valid = list(model_config_fields(name))
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(
            f"Unknown hyper-parameter(s) {unknown} for model {name!r}; valid keys: "
            f"{valid if valid else 'none (it takes no hyper-parameters)'}."
        )
    config = config_class(**kwargs)
    if name == "pop":
        return MostPop(data.train, config=config)
    if name == "bpr":
        return BPR(data.n_users, data.n_items, config=config)
    if name == "lightgcn":
        return LightGCN(data.train, config=config)
    if name == "bm3":
        return BM3(data.train, features=data.features, config=config)
    if name == "vbpr":
        return VBPR(data.n_users, data.n_items, data.features, config=config)
    if name == "lattice":
        return LATTICE(data.train, data.features, config=config)
    if name == "buir":
        return BUIR(data.train, config=config)
    if name == "itemknn":
        return ItemKNN(data.train, data.features, config=config)
    if name == "mmgcn":
        return MMGCN(data.train, data.features, config=config)
    if name == "grcn":
        return GRCN(data.train, data.features, config=config)
    if name == "dualgnn":
        return DualGNN(data.train, data.features, config=config)
    assert name == "freedom"
    return FREEDOM(data.train, data.features, config=config)


__all__ = [
    "BM3",
    "BM3Config",
    "BPR",
    "BPRConfig",
    "BUIR",
    "BUIRConfig",
    "DualGNN",
    "DualGNNConfig",
    "FREEDOM",
    "FREEDOMConfig",
    "GRCN",
    "GRCNConfig",
    "ItemKNN",
    "ItemKNNConfig",
    "LATTICE",
    "LATTICEConfig",
    "LightGCN",
    "LightGCNConfig",
    "MMGCN",
    "MMGCNConfig",
    "MODALITIES",
    "MODELS",
    "MODEL_CONFIGS",
    "ModelConfig",
    "MostPop",
    "MostPopConfig",
    "OracleConfig",
    "Recommender",
    "VBPR",
    "UtilityOracle",
    "VBPRConfig",
    "bpr_loss",
    "build_model",
    "emb_loss",
    "model_config_fields",
    "resolve_modalities",
]
