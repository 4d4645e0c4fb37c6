"""One trainer for every model: MMRec's protocol, seeded, timed and recorded.

Protocol (MMRec's defaults): Adam (lr 1e-3), mini-batches of 2,048 training pairs reshuffled every
epoch, one uniform negative per pair (:mod:`mmrs.sampling`), full-ranking evaluation on the
validation split after every epoch, early stopping once the stopping metric (valid Recall@20)
has failed to improve for more than ``patience`` consecutive evaluations (MMRec's rule), the best
epoch's parameters restored, and the test split evaluated once with those parameters
(validation-selected: no peeking at test).

A run returns a :data:`Record`, a JSON-ready dict that :func:`save_record` writes atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .config import Profile
from .data.interactions import InteractionData
from .metrics import DEFAULT_KS, evaluate_split
from .models.base import Recommender
from .provenance import git_revision
from .sampling import NegativeSampler

Record = dict[str, Any]
"""A run's results: see :func:`train` for the keys."""

RECORD_KEYS: tuple[str, ...] = (
    "dataset",
    "model",
    "config",
    "seed",
    "best_epoch",
    "epochs_run",
    "stopped_early",
    "valid",
    "test",
    "seconds_per_epoch",
    "test_eval_seconds",
    "peak_rss_mb",
    "git_revision",
    "machine",
    "command",
    "history",
    "created_utc",
)


@dataclass
class TrainConfig:
    """Training settings (defaults: MMRec's ``overall.yaml``)."""

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
    """Show a tqdm progress bar over epochs."""
    deterministic: bool = True
    """Call ``torch.use_deterministic_algorithms(True, warn_only=True)`` during the run."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form notes stored in the record."""

    @classmethod
    def from_profile(cls, profile: Profile, **overrides: Any) -> TrainConfig:
        """Settings sized by a :class:`~mmrs.config.Profile`; ``None`` overrides are ignored."""
        base = {"max_epochs": profile.max_epochs, "patience": profile.patience}
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)


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


def machine_info() -> dict[str, Any]:
    """Platform, CPU count and library versions."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
    }


def train_one_epoch(
    model: Recommender,
    optimizer: torch.optim.Optimizer,
    users: np.ndarray,
    items: np.ndarray,
    sampler: NegativeSampler,
    rng: np.random.Generator,
    batch_size: int,
) -> float:
    """One pass over the shuffled training pairs; returns the mean batch loss (pair-weighted)."""
    order = rng.permutation(len(users))
    u = torch.from_numpy(users[order])
    i = torch.from_numpy(items[order])
    j = torch.from_numpy(sampler.sample(users[order])) if model.needs_negatives else None
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
        total += float(loss.detach()) * len(u[start:stop])
    return total / max(len(order), 1)


def _evaluate(model: Recommender, data: InteractionData, split: str, config: TrainConfig):
    start = time.perf_counter()
    metrics = evaluate_split(model, data, split, config.ks, config.eval_batch_size)
    return metrics, time.perf_counter() - start


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
    trainable parameters (MostPop) are evaluated once (``best_epoch = 0``).

    Record keys (:data:`RECORD_KEYS`): ``dataset``, ``model``, ``config`` (``model`` hparams and
    ``train`` settings), ``seed``, ``best_epoch`` (1-based), ``epochs_run``, ``stopped_early``,
    ``valid`` / ``test`` (metrics at the best validation epoch, all ``ks``),
    ``seconds_per_epoch`` (``train`` and ``eval`` means), ``test_eval_seconds``,
    ``peak_rss_mb``, ``git_revision``, ``machine``, ``command``, ``history`` (per epoch: loss,
    valid stopping metric, seconds) and ``created_utc``.
    """
    config = config or TrainConfig()
    if config.stop_metric not in {
        f"{m}@{k}" for m in ("recall", "ndcg", "precision", "map", "hit") for k in config.ks
    }:
        raise ValueError(f"stop_metric {config.stop_metric!r} is not computed for ks={config.ks}")
    with deterministic_algorithms(config.deterministic):
        rng = seed_everything(seed)
        model.reset_parameters()
        users, items = data.pairs("train")
        history: list[dict[str, Any]] = []
        best_value, best_epoch, best_valid = -np.inf, 0, None
        best_state: dict[str, torch.Tensor] | None = None
        train_times: list[float] = []
        eval_times: list[float] = []
        stopped_early = False
        epochs_run = 0
        if not model.trainable:
            best_valid, eval_s = _evaluate(model, data, "valid", config)
            eval_times.append(eval_s)
            history.append(
                {
                    "epoch": 0,
                    "loss": None,
                    config.stop_metric: best_valid[config.stop_metric],
                    "eval_s": eval_s,
                }
            )
        else:
            sampler = NegativeSampler(data.train, rng, train_items_only=config.train_items_only)
            optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
            waited = 0
            bar = tqdm(
                range(1, config.max_epochs + 1), disable=not config.progress, desc=f"{model.name}"
            )
            for epoch in bar:
                model.train()
                start = time.perf_counter()
                model.pre_epoch()
                loss = train_one_epoch(
                    model, optimizer, users, items, sampler, rng, config.batch_size
                )
                train_s = time.perf_counter() - start
                valid, eval_s = _evaluate(model, data, "valid", config)
                train_times.append(train_s)
                eval_times.append(eval_s)
                epochs_run = epoch
                value = valid[config.stop_metric]
                history.append(
                    {
                        "epoch": epoch,
                        "loss": loss,
                        config.stop_metric: value,
                        "train_s": train_s,
                        "eval_s": eval_s,
                    }
                )
                if value > best_value:
                    best_value, best_epoch, best_valid, waited = value, epoch, valid, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    waited += 1
                bar.set_postfix(
                    loss=f"{loss:.4f}", **{config.stop_metric: f"{value:.4f}"}, best=best_epoch
                )
                if waited > config.patience:  # MMRec's early_stopping: cur_step > max_step
                    stopped_early = True
                    break
            bar.close()
            if best_state is not None:
                model.load_state_dict(best_state)
        model.train()  # drop any cache built from the last epoch's parameters
        test, test_s = _evaluate(model, data, "test", config)
    return {
        "dataset": data.name,
        "model": model.name,
        "config": {"model": model.hparams(), "train": asdict(config)},
        "seed": seed,
        "best_epoch": best_epoch,
        "epochs_run": epochs_run,
        "stopped_early": stopped_early,
        "valid": best_valid,
        "test": test,
        "seconds_per_epoch": {
            "train": float(np.mean(train_times)) if train_times else 0.0,
            "eval": float(np.mean(eval_times)) if eval_times else 0.0,
        },
        "test_eval_seconds": test_s,
        "peak_rss_mb": peak_rss_mb(),
        "git_revision": git_revision(),
        "machine": machine_info(),
        "command": command
        if command is not None
        else " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "history": history,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": {
            "n_users": data.n_users,
            "n_items": data.n_items,
            "split": data.split_counts(),
            "split_source": data.split_source,
        },
    }


def save_record(record: Record, path: str | Path) -> Path:
    """Write ``record`` as JSON atomically (temporary file in the same folder, then ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False, encoding="utf-8"
    )
    try:
        with handle:
            json.dump(record, handle, indent=2, sort_keys=False, allow_nan=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(handle.name)
        raise
    return path


def load_record(path: str | Path) -> Record:
    """Read a record written by :func:`save_record`."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
