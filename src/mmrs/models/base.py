"""The interface every recommender in :mod:`mmrs.models` implements, and the shared losses.

A model is a :class:`torch.nn.Module` with

* ``needs_negatives``: whether :meth:`Recommender.calculate_loss` uses sampled negatives;
* ``calculate_loss(users, pos, neg) -> Tensor``: the scalar training loss of one batch of
  ``(u, i, j)`` triples (``neg`` may be ``None`` when ``needs_negatives`` is false);
* ``pre_epoch()``: called by :func:`mmrs.train.train` before every training epoch (default: nothing;
  FREEDOM re-samples its pruned graph here);
* ``after_step()``: called by :func:`mmrs.train.train_one_epoch` after every optimizer step
  (default: nothing; BUIR moves its momentum target encoder here);
* ``lr_factor(epoch) -> float``: multiplier of the base learning rate in (0-based) epoch ``epoch``
  (default ``1.0``, no schedule; LATTICE has MMRec's ``learning_rate_scheduler``);
* ``prepare_eval()``: computes whatever evaluation needs once (e.g. propagated embeddings);
  called by :func:`mmrs.metrics.evaluate_split` after ``model.eval()``;
* ``score_users(users) -> Tensor [b, n_items]``: scores of all items for a batch of users;
* ``reset_parameters()``: (re-)initialises the parameters from the global torch RNG, so that
  :func:`mmrs.train.train` can seed a run independently of when the model was built;
* ``config``: a frozen :class:`ModelConfig` dataclass holding exactly the constructor
  hyper-parameters (validated when it is made); ``hparams()`` is ``dataclasses.asdict(config)``
  with tuples written as lists, recorded with results.

Switching to training mode (``model.train()``) or moving the model (``model.to(...)``) drops the
evaluation cache. Every tensor a model owns is a parameter or a buffer (sparse graphs included),
so ``model.to(device_or_dtype)`` moves all of it.

Shared pieces: :func:`resolve_modalities` (which feature modalities a model uses),
:func:`add_feature_tables` (trainable raw feature tables and projections) and the validation
helpers of the configs (:func:`check_int`, :func:`check_float`, :func:`check_bool`,
:func:`check_modalities`).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """``L_BPR = -(1/B) sum_b log sigma(s_ui - s_uj)`` (mean over the batch).

    Computed as ``-logsigmoid`` for stability; MMRec writes ``-log(1e-10 + sigma(.))``, which
    differs only when ``sigma(.) < ~1e-8``.
    """
    return -F.logsigmoid(pos_scores - neg_scores).mean()


def emb_loss(*embeddings: torch.Tensor, squared: bool = False) -> torch.Tensor:
    """MMRec's ``EmbLoss``: ``(sum_m ||E_m||_F) / B``, ``B`` = rows of the last tensor.

    MMRec (``common/loss.py``) uses ``torch.norm(E, p=2)``, the Frobenius norm, **not squared**.
    ``squared=True`` gives the textbook L2 term ``(sum_m ||E_m||_F^2) / B`` instead.
    """
    batch = embeddings[-1].shape[0]
    if squared:
        total = sum(e.pow(2).sum() for e in embeddings)
    else:
        total = sum(torch.linalg.vector_norm(e) for e in embeddings)
    return total / batch


MODALITIES: tuple[str, ...] = ("image", "text")
"""The feature modalities the models know, in MMRec's ``(v, t)`` order (BM3, FREEDOM)."""


def resolve_modalities(
    requested: str | Iterable[str] | None,
    features: Mapping[str, Any] | None,
    order: tuple[str, ...] = MODALITIES,
    *,
    allow_empty: bool = True,
    hint: str = "extract them first (mmrs.features) or choose other modalities",
) -> tuple[str, ...]:
    """The modalities a model uses, in ``order``, without duplicates.

    ``requested=None`` means every modality of ``order`` that ``features`` has; a single string
    is one modality. Raises ``ValueError`` for a name outside ``order``, for a requested modality
    that ``features`` lacks (naming it and the available ones, then ``hint``) and, unless
    ``allow_empty``, when nothing is left.
    """
    available = sorted(features or {})
    if requested is None:
        names: tuple[str, ...] = tuple(m for m in order if m in available)
    else:
        names = (requested,) if isinstance(requested, str) else tuple(requested)
        unknown = [m for m in names if m not in order]
        if unknown:
            raise ValueError(f"unknown modality {unknown[0]!r}; choose from {order}")
        missing = [m for m in order if m in names and m not in available]
        if missing:
            raise ValueError(
                f"modality {missing[0]!r} requested but the data has features {available}; {hint}."
            )
        names = tuple(m for m in order if m in names)
    if not names and not allow_empty:
        raise ValueError(
            f"at least one feature modality of {order} is needed, got none "
            f"(requested {requested!r}, the data has features {available})."
        )
    return names


# ------------------------------------------------------------------ configs


def _range_error(field: str, value: Any, allowed: str) -> ValueError:
    return ValueError(f"{field} must be {allowed}, got {value!r}")


def check_int(field: str, value: Any, minimum: int) -> int:
    """``value`` as an ``int`` ``>= minimum`` (integral floats accepted), else ``ValueError``."""
    allowed = f"an integer >= {minimum}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise _range_error(field, value, allowed)
    if not math.isfinite(value) or int(value) != value or int(value) < minimum:
        raise _range_error(field, value, allowed)
    return int(value)


def check_float(
    field: str, value: Any, low: float, high: float = math.inf, *, high_open: bool = False
) -> float:
    """``value`` as a ``float`` in ``[low, high]`` (``[low, high)`` if ``high_open``)."""
    if high == math.inf:
        allowed = f"a number >= {low:g}"
    else:
        allowed = f"a number in [{low:g}, {high:g}{')' if high_open else ']'}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise _range_error(field, value, allowed)
    x = float(value)
    if math.isnan(x) or x < low or x > high or (high_open and x == high):
        raise _range_error(field, value, allowed)
    return x


def check_bool(field: str, value: Any) -> bool:
    """``value`` as a ``bool`` (``True``/``False`` only)."""
    if not isinstance(value, (bool, np.bool_)):
        raise _range_error(field, value, "True or False")
    return bool(value)


def check_modalities(
    field: str, value: Any, order: tuple[str, ...], *, allow_empty: bool = True
) -> tuple[str, ...] | None:
    """``None`` (every available modality) or a tuple of names from ``order``."""
    allowed = f"None (all available) or a tuple of modalities from {order}"
    if value is None:
        return None
    names = (value,) if isinstance(value, str) else value
    if not isinstance(names, (tuple, list)) or any(m not in order for m in names):
        raise _range_error(field, value, allowed)
    if not names and not allow_empty:
        raise _range_error(field, value, f"{allowed} naming at least one feature modality")
    return tuple(names)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Base of the models' config dataclasses (frozen; subclasses validate in ``__post_init__``)."""

    def _set(self, name: str, value: Any) -> None:
        """Store a validated (coerced) value on the frozen instance."""
        object.__setattr__(self, name, value)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Field name -> default value."""
        return {f.name: f.default for f in dataclasses.fields(cls)}

    def hparams(self) -> dict[str, Any]:
        """``dataclasses.asdict(self)`` with tuples written as lists (as recorded with results)."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }


C = TypeVar("C", bound=ModelConfig)


def make_config(cls: type[C], config: C | None, **kwargs: Any) -> C:
    """A model's config: ``config`` when given (then every keyword must keep its default),
    else ``cls(**kwargs)`` (validated)."""
    if config is None:
        return cls(**kwargs)
    if not isinstance(config, cls):
        raise TypeError(f"config must be a {cls.__name__}, got {type(config).__name__}")
    defaults = cls.defaults()
    clash = sorted(k for k, v in kwargs.items() if v != defaults[k])
    if clash:
        raise ValueError(f"pass {clash} either as keyword arguments or in config=, not both")
    return config


def config_property(name: str, *, settable: bool = False) -> property:
    """``model.<name>`` reads ``model.config.<name>``. If ``settable`` (settings that may change
    after construction, e.g. a dropout rate), assigning replaces the config with a validated copy;
    otherwise (settings that shaped the parameters or graphs) assigning is an error."""

    def get(self: Any) -> Any:
        return getattr(self.config, name)

    def set_(self: Any, value: Any) -> None:
        if not settable:
            raise AttributeError(f"{name} is fixed at construction; build a new model instead")
        self.config = dataclasses.replace(self.config, **{name: value})

    return property(get, set_, doc=f"``config.{name}``")


def add_feature_tables(
    model: nn.Module, features: dict, modalities: tuple[str, ...], n_items: int, out_dim: int
) -> None:
    """Give ``model`` one trainable raw table ``feat_tables[m]`` (initialised with the features,
    **not frozen**, as BM3's and FREEDOM's reference code) and one projection
    ``projections[m]: d_m -> out_dim`` per modality; the extracted features are kept in a buffer
    ``_raw_<m>`` for :func:`restore_feature_tables`."""
    model.feat_tables = nn.ParameterDict()
    model.projections = nn.ModuleDict()
    for m in modalities:
        raw = np.asarray(features[m], dtype=np.float32)
        if raw.shape[0] != n_items:
            raise ValueError(f"{m} features have {raw.shape[0]} rows, expected {n_items} items")
        model.register_buffer(f"_raw_{m}", torch.from_numpy(raw.copy()), persistent=False)
        model.feat_tables[m] = nn.Parameter(torch.empty(raw.shape))
        model.projections[m] = nn.Linear(raw.shape[1], out_dim)


def restore_feature_tables(model: nn.Module) -> None:
    """Copy the extracted features back into every ``feat_tables[m]`` (see :func:`add_feature_tables`)."""
    with torch.no_grad():
        for m, table in model.feat_tables.items():
            table.copy_(getattr(model, f"_raw_{m}"))


class Recommender(nn.Module):
    """Base class: the common interface (module docstring) and the evaluation cache."""

    name: str = "recommender"
    needs_negatives: bool = True
    config: ModelConfig | None = None

    def __init__(self, n_users: int, n_items: int) -> None:
        super().__init__()
        self.n_users = int(n_users)
        self.n_items = int(n_items)
        self._cache: tuple[torch.Tensor, ...] | None = None

    def reset_parameters(self) -> None:
        """Re-initialise all parameters (models without parameters have nothing to do)."""

    def hparams(self) -> dict[str, Any]:
        """Constructor settings worth recording: ``config.hparams()`` (``{}`` without a config)."""
        return {} if self.config is None else self.config.hparams()

    def pre_epoch(self) -> None:
        """Per-epoch preparation before training batches (default: nothing)."""

    def after_step(self) -> None:
        """Called after every optimizer step (default: nothing)."""

    def lr_factor(self, epoch: int) -> float:
        """Multiplier of the base learning rate in 0-based ``epoch`` (default: ``1.0``)."""
        return 1.0

    def calculate_loss(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor | None
    ) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement calculate_loss")

    def compute_eval_cache(self) -> tuple[torch.Tensor, ...]:
        """The tensors :meth:`score_users` reads (default: none)."""
        return ()

    def prepare_eval(self) -> None:
        """Compute and keep the evaluation cache (no gradients)."""
        with torch.no_grad():
            self._cache = self.compute_eval_cache()

    def eval_cache(self) -> tuple[torch.Tensor, ...]:
        """The cache, computed on first use."""
        if self._cache is None:
            self.prepare_eval()
        assert self._cache is not None
        return self._cache

    def score_users(self, users: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement score_users")

    def train(self, mode: bool = True) -> Recommender:
        """Switch mode; entering training mode invalidates the evaluation cache."""
        if mode:
            self._cache = None
        return super().train(mode)

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> Recommender:
        """``.to()``, ``.double()``, ... move parameters and buffers; the cache is dropped."""
        self._cache = None
        return super()._apply(fn, *args, **kwargs)

    @property
    def trainable(self) -> bool:
        """Whether the model has parameters to fit (MostPop has none)."""
        return any(p.requires_grad for p in self.parameters())
