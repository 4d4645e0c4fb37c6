"""One trainer for every model: MMRec's protocol, seeded, timed and recorded.

Protocol (MMRec's defaults): Adam (lr 1e-3), mini-batches of 2,048 training pairs reshuffled every
epoch, one uniform negative per pair (:mod:`mmrs.sampling`), full-ranking evaluation on the
validation split after every epoch, early stopping once the stopping metric (valid Recall@20)
has failed to improve for more than ``patience`` consecutive evaluations (MMRec's rule), the best
epoch's parameters restored, and the test split evaluated once with those parameters
(validation-selected: no peeking at test).

A run returns a ``train`` record (:mod:`mmrs.records`) that :func:`mmrs.records.save` writes atomically.

:func:`train` chains short steps that can be used and tested on their own: :func:`fit` (the
epoch loop, with :class:`EarlyStopping`), :func:`train_one_epoch`, :func:`evaluate` (timed
full-ranking metrics) and :func:`build_record`. ``TrainConfig.device`` picks where to run
(:func:`resolve_device`); the default, ``"cpu"``, is what every recorded result used.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import random
import re
import resource
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from .config import DEVICES, Profile, device_name
from .config import resolve_device as _resolve_device
from .data.interactions import InteractionData
from .metrics import DEFAULT_KS, evaluate_split
from .models.base import Recommender
from .provenance import dataset_entry as _entry
from .provenance import git_state, new_record
from .sampling import NegativeSampler

Record = dict[str, Any]
"""A run's results: see :func:`train` for the keys."""


@dataclass
class TrainConfig:
    """Training settings (defaults: MMRec's ``overall.yaml``).

    Checked on construction: a value out of range raises a one-line :class:`ValueError` naming the
    field, the value and the allowed range.
    """

    max_epochs: int = 1000
    patience: int = 20
    """MMRec's ``stopping_step``: training stops once more than ``patience`` consecutive
    evaluations have not improved ``stop_metric`` (strictly greater counts as improvement)."""
    batch_size: int = 2048
    lr: float = 1e-3
    ks: tuple[int, ...] = DEFAULT_KS
    stop_metric: str = "recall@20"
    eval_batch_size: int = 4096
    train_items_only: bool = True
    """Draw negatives only from items seen in training (MMRec); ``False``: from all item ids."""
    progress: bool = True
    """Show a plain-text tqdm progress bar over epochs on the terminal (``sys.stderr``)."""
    deterministic: bool = True
    """Call ``torch.use_deterministic_algorithms(True, warn_only=True)`` during the run."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form notes stored in the record."""
    device: str = field(default_factory=device_name)
    """Where to train and evaluate: ``"cpu"``, ``"cuda"``, ``"mps"`` or ``"auto"`` (CUDA, then
    MPS, else CPU); see :func:`resolve_device`. Default: :func:`mmrs.config.device_name`
    (``$MMRS_DEVICE``, else ``"cpu"``). The model is left on that device after training."""

    def __post_init__(self) -> None:
        _check_int("max_epochs", self.max_epochs, 1)
        _check_int("patience", self.patience, 0)
        _check_int("batch_size", self.batch_size, 1)
        _check_int("eval_batch_size", self.eval_batch_size, 1)
        if not isinstance(self.lr, numbers.Real) or not (0 < self.lr < math.inf):
            raise ValueError(f"TrainConfig.lr must be a finite number > 0, got {self.lr!r}")
        ks = self.ks
        if (
            isinstance(ks, (str, bytes))
            or not isinstance(ks, Sequence)
            or not ks
            or not all(_is_int(k) and k >= 1 for k in ks)
        ):
            raise ValueError(
                f"TrainConfig.ks must be a non-empty sequence of integers >= 1, got {ks!r}"
            )
        if self.device not in DEVICES:
            raise ValueError(f"TrainConfig.device must be one of {DEVICES}, got {self.device!r}")

    @classmethod
    def from_profile(cls, profile: Profile, **overrides: Any) -> TrainConfig:
        """Settings sized by a :class:`~mmrs.config.Profile`; ``None`` overrides are ignored."""
        base = {"max_epochs": profile.max_epochs, "patience": profile.patience}
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_int(name: str, value: object, minimum: int) -> None:
    if not _is_int(value) or value < minimum:  # type: ignore[operator]
        raise ValueError(f"TrainConfig.{name} must be an integer >= {minimum}, got {value!r}")


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """The :class:`torch.device` for ``name`` (one of :data:`DEVICES`; ``None``: the setting of
    :func:`mmrs.config.device_name`, i.e. ``$MMRS_DEVICE`` or ``"cpu"``; a ``torch.device`` is
    returned as it is).

    ``"auto"`` picks CUDA if available, then Apple's MPS, else the CPU. Asking for ``"cuda"`` or
    ``"mps"`` where it is not available raises :class:`RuntimeError`; an unknown name
    :class:`ValueError`.
    """
    return _resolve_device(name)


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python's, numpy's and torch's global RNGs; return a numpy Generator for the run."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (legacy global RNG, for third-party code)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool) -> Iterator[None]:
    """Temporarily ``torch.use_deterministic_algorithms(enabled, warn_only=True)``."""
    before = torch.are_deterministic_algorithms_enabled()
    before_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=before_warn)


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (``resource.getrusage``)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB else


class EarlyStopping:
    """MMRec's early stopping: remember the best value of the stopping metric (and a snapshot of
    the parameters at it); stop once more than ``patience`` consecutive evaluations have not
    improved it. Only a strictly greater value counts as an improvement (a tie does not)."""

    def __init__(self, patience: int) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience must be an integer >= 0, got {patience!r}")
        self.patience = patience
        self.best_value = -math.inf
        self.best_epoch = 0
        self.best_state: Any = None
        self.waited = 0

    def update(self, value: float, epoch: int, snapshot: Callable[[], Any] | None = None) -> bool:
        """Record epoch ``epoch``'s ``value``; on improvement keep ``snapshot()`` and return True."""
        if value > self.best_value:
            self.best_value, self.best_epoch, self.waited = value, epoch, 0
            if snapshot is not None:
                self.best_state = snapshot()
            return True
        self.waited += 1
        return False

    @property
    def should_stop(self) -> bool:
        """``waited > patience`` (MMRec's ``cur_step > max_step``)."""
        return self.waited > self.patience


@dataclass
class FitResult:
    """What :func:`fit` learned: the best epoch (1-based; 0 for a model without parameters), how
    many epochs ran, whether early stopping ended the run, the validation metrics at the best
    epoch, the per-epoch history and the seconds of every training epoch and evaluation."""

    best_epoch: int
    epochs_run: int
    stopped_early: bool
    valid: dict[str, float] | None
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)
    eval_seconds: list[float] = field(default_factory=list)


def make_optimizer(params: Iterable[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    """Adam (``lr``, PyTorch's defaults otherwise) with PyTorch's fused kernel where it runs.

    The update is Adam's (Kingma & Ba)::

        m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2,
        p <- p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    ``fused=True`` does it in one pass over each parameter instead of several tensor ops (the
    same arithmetic up to float rounding; ``tests/test_train_steps.py`` checks the parameters
    against plain Adam after a few steps). On CPU this matters where parameters are large: the
    trainable raw feature tables of BM3 and FREEDOM (``benchmarks/bench_epoch.py``). Falls back
    to plain Adam where the fused kernel is not available for the parameters' device or dtype.
    """
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError):  # fused kernel not available here: the for-loop Adam
        return torch.optim.Adam(params, lr=lr)


def train_one_epoch(
    model: Recommender,
    optimizer: torch.optim.Optimizer,
    users: np.ndarray,
    items: np.ndarray,
    sampler: NegativeSampler,
    rng: np.random.Generator,
    batch_size: int,
    device: torch.device | None = None,
) -> float:
    """One pass over the shuffled training pairs; returns the mean batch loss (pair-weighted).

    The pairs are reshuffled with ``rng``, one negative per pair is drawn by ``sampler`` (if the
    model needs negatives), and batches are moved to ``device`` (default: left on the CPU).
    ``model.after_step()`` runs after every optimizer step.
    """
    order = rng.permutation(len(users))
    u = torch.from_numpy(users[order])
    i = torch.from_numpy(items[order])
    j = torch.from_numpy(sampler.sample(users[order])) if model.needs_negatives else None
    if device is not None:
        u, i = u.to(device), i.to(device)
        j = None if j is None else j.to(device)
    total = 0.0
    for start in range(0, len(order), batch_size):
        stop = start + batch_size
        optimizer.zero_grad(set_to_none=True)
        loss = model.calculate_loss(
            u[start:stop], i[start:stop], None if j is None else j[start:stop]
        )
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss {loss.item()} at pair {start}")
        loss.backward()
        optimizer.step()
        model.after_step()
        total += float(loss.detach()) * len(u[start:stop])
    return total / max(len(order), 1)


def evaluate(
    model: Recommender,
    data: InteractionData,
    split: str,
    config: TrainConfig,
    device: torch.device | None = None,
) -> tuple[dict[str, float], float]:
    """Full-ranking metrics of ``model`` on ``split`` (``config.ks``) and the seconds it took.

    See :func:`mmrs.metrics.evaluate_split` (training items masked). The model is scored where
    it lives (``fit`` has moved it to ``device``): the user ids go to its device, masking and
    top-k run there, and only the top-k item ids come back to the CPU. ``device`` is accepted
    for symmetry with :func:`train_one_epoch` and not otherwise used.
    """
    start = time.perf_counter()
    metrics = evaluate_split(model, data, split, config.ks, config.eval_batch_size)
    return metrics, time.perf_counter() - start


def fit(
    model: Recommender,
    data: InteractionData,
    config: TrainConfig,
    rng: np.random.Generator,
    device: torch.device | None = None,
) -> FitResult:
    """The epoch loop: MMRec's protocol on ``data.train`` with early stopping on ``data.valid``.

    Adam (:func:`make_optimizer`, ``config.lr``, times ``model.lr_factor(epoch)`` when the model
    overrides it); every
    epoch ``model.pre_epoch()``, one pass over the pairs reshuffled
    with ``rng`` in mini-batches of ``config.batch_size`` with one uniform negative per pair
    (:func:`train_one_epoch`), then full-ranking validation (:func:`evaluate`);
    :class:`EarlyStopping` on ``config.stop_metric`` with ``config.patience``; at the end the
    best epoch's parameters are restored. A model without trainable parameters (MostPop) is
    evaluated once (``best_epoch = 0``). The model is moved to ``device`` (default:
    ``resolve_device(config.device)``) and stays there. Seeding and ``reset_parameters`` are
    the caller's job (:func:`train`).
    """
    device = resolve_device(config.device) if device is None else device
    model.to(device)
    if not model.trainable:
        valid, eval_s = evaluate(model, data, "valid", config, device)
        entry = {"epoch": 0, "loss": None, config.stop_metric: valid[config.stop_metric]}
        history = [{**entry, "eval_s": eval_s}]
        return FitResult(0, 0, False, valid, history, eval_seconds=[eval_s])
    users, items = data.pairs("train")
    sampler = NegativeSampler(data.train, rng, train_items_only=config.train_items_only)
    optimizer = make_optimizer(model.parameters(), config.lr)
    # a model with a learning-rate schedule (MMRec's LambdaLR, stepped after each epoch)
    scheduler = None
    if type(model).lr_factor is not Recommender.lr_factor:
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, model.lr_factor)
    stopper = EarlyStopping(config.patience)
    result = FitResult(best_epoch=0, epochs_run=0, stopped_early=False, valid=None)
    bar = tqdm(
        range(1, config.max_epochs + 1),
        desc=f"{model.name}",
        disable=not config.progress,
        file=sys.stderr,
    )
    for epoch in bar:
        model.train()
        start = time.perf_counter()
        model.pre_epoch()
        loss = train_one_epoch(
            model, optimizer, users, items, sampler, rng, config.batch_size, device
        )
        if scheduler is not None:
            scheduler.step()
        train_s = time.perf_counter() - start
        valid, eval_s = evaluate(model, data, "valid", config, device)
        value = valid[config.stop_metric]
        result.train_seconds.append(train_s)
        result.eval_seconds.append(eval_s)
        result.epochs_run = epoch
        result.history.append(
            {
                "epoch": epoch,
                "loss": loss,
                config.stop_metric: value,
                "train_s": train_s,
                "eval_s": eval_s,
            }
        )
        if stopper.update(value, epoch, snapshot=lambda: _state_copy(model)):
            result.valid = valid
        bar.set_postfix(
            loss=f"{loss:.4f}", **{config.stop_metric: f"{value:.4f}"}, best=stopper.best_epoch
        )
        if stopper.should_stop:
            result.stopped_early = True
            break
    bar.close()
    result.best_epoch = stopper.best_epoch
    if stopper.best_state is not None:
        model.load_state_dict(stopper.best_state)
    return result


def _state_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def check_stop_metric(config: TrainConfig) -> None:
    """Raise :class:`ValueError` unless ``config.stop_metric`` is one of the computed metrics."""
    computed = {
        f"{m}@{k}" for m in ("recall", "ndcg", "precision", "map", "hit") for k in config.ks
    }
    if config.stop_metric not in computed:
        raise ValueError(f"stop_metric {config.stop_metric!r} is not computed for ks={config.ks}")


def dataset_entry(data: InteractionData) -> dict[str, Any]:
    """The record's ``dataset`` field for ``data``: name, source folder and sha256 of its files
    (from ``data.identity`` when the loader set it) and the sizes and split of the interactions."""
    identity = getattr(data, "identity", None) or {}
    return _entry(
        identity.get("name", data.name),
        identity.get("source"),
        identity.get("sha256"),
        {"n_users": data.n_users, "n_items": data.n_items, "split": data.split_counts(),
         "split_source": data.split_source},
    )


def build_record(
    model: Recommender,
    data: InteractionData,
    config: TrainConfig,
    seed: int,
    result: FitResult,
    test: dict[str, float],
    test_seconds: float,
    command: str | None = None,
) -> Record:
    """The ``train`` record of a run (:mod:`mmrs.records`), from :func:`fit`'s result and the
    test metrics: ``metrics`` (``valid`` at the best epoch, ``test``), ``body`` (``best_epoch``,
    ``epochs_run``, ``stopped_early``, ``history``), ``timings`` (mean train and validation seconds
    per epoch, the test evaluation), peak memory and the provenance :func:`mmrs.records.new_record`
    adds (git revision and dirty flag, versions, machine, command line)."""
    split = re.search(r"seed (\d+)", data.split_source or "")
    seeds = {"model": int(seed), **({"split": int(split.group(1))} if split else {})}
    return new_record(
        "train",
        dataset=dataset_entry(data),
        model=model.name,
        config={"model": model.hparams(), "train": asdict(config)},
        seeds=seeds,
        metrics={"valid": result.valid, "test": test},
        timings={
            "train_s_per_epoch": float(np.mean(result.train_seconds)) if result.train_seconds else 0.0,
            "eval_s_per_epoch": float(np.mean(result.eval_seconds)) if result.eval_seconds else 0.0,
            "test_eval_s": test_seconds,
        },
        body={
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "stopped_early": result.stopped_early,
            "history": result.history,
        },
        command=command,
        peak_rss_mb=peak_rss_mb(),
    )


def train(
    model: Recommender,
    data: InteractionData,
    config: TrainConfig | None = None,
    seed: int = 2023,
    command: str | None = None,
) -> Record:
    """Fit ``model`` on ``data.train`` with early stopping on ``data.valid``; return a record.

    Seeds Python/numpy/torch with ``seed`` and re-initialises the model
    (``model.reset_parameters()``), so the same seed gives the same metrics. Models without
    trainable parameters (MostPop) are evaluated once (``best_epoch = 0``). Steps:
    :func:`fit` (the epoch loop, MMRec's protocol, best epoch restored), :func:`evaluate` on the
    test split once with the restored parameters (validation-selected), :func:`build_record`.

    The record is :mod:`mmrs.records`' ``train`` kind (see :func:`build_record`): ``metrics.valid``
    / ``metrics.test`` at the best validation epoch (all ``ks``), ``body.best_epoch`` (1-based),
    ``body.epochs_run``, ``body.stopped_early``, ``body.history`` (per epoch: loss, valid stopping
    metric, seconds), ``config`` (``model`` hparams and ``train`` settings), ``seeds``,
    ``timings`` and the provenance.
    """
    config = config or TrainConfig()
    check_stop_metric(config)
    git_state()  # the tree this run starts from is the one its record states
    device = resolve_device(config.device)
    with deterministic_algorithms(config.deterministic):
        rng = seed_everything(seed)
        model.reset_parameters()
        result = fit(model, data, config, rng, device)
        model.train()  # drop any cache built from the last epoch's parameters
        test, test_s = evaluate(model, data, "test", config, device)
    return build_record(model, data, config, seed, result, test, test_s, command)
