"""What every experiment runner shares: argument types checked before any data is loaded, the
``dataset`` entry of simulated data, and the seconds a step took.

Argument types raise :class:`argparse.ArgumentTypeError`, so a bad value ends the command with
argparse's one-line ``error: argument --x: ...`` (exit code 2) and nothing is loaded or written.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from .. import records
from ..config import DEVICE_ENV, DEVICES, device_name, resolve_device
from ..data.registry import REGISTRY


def positive_int(text: str) -> int:
    """An integer >= 1 (epochs, sizes, threads)."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """An integer >= 0 (patience)."""
    return _int_at_least(text, 0)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"{value} is below the minimum {low}")
    return value


def add_device_argument(parser: argparse.ArgumentParser, what: str = "train") -> None:
    """``--device {auto,cpu,cuda,mps}`` (default ``$MMRS_DEVICE``, else ``cpu``: the recorded
    numbers were made on the CPU; ``auto`` must be asked for)."""
    parser.add_argument(
        "--device", choices=DEVICES, default=None,
        help=f"where to {what}: auto (CUDA, then MPS, else CPU), cpu, cuda or mps "
        f"(default: ${DEVICE_ENV} or cpu)",
    )


def checked_device(cli: argparse.ArgumentParser, name: str | None) -> str:
    """:func:`mmrs.config.device_name` of ``name``, checked once against the machine so that an
    unknown ``$MMRS_DEVICE`` or an unavailable accelerator ends the command with argparse's
    one-line error (exit code 2) before any data is loaded."""
    try:
        key = device_name(name)
        resolve_device(key)
    except (RuntimeError, ValueError) as error:
        cli.error(f"argument --device: {error}")
    return key


def json_out(text: str) -> Path:
    """An output path for a record: ends in ``.json``, is not a folder, and its folder exists (or
    can be made) and is writable. Checked before any work starts."""
    path = Path(text)
    if path.suffix != ".json":
        raise argparse.ArgumentTypeError(f"{text!r}: a record's file name ends in .json")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; give a file name ending in .json")
    parent = path.parent if str(path.parent) else Path(".")
    existing = next((p for p in (parent, *parent.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text!r}: cannot write into {existing}")
    return path


def simulation_dataset(sim: Any) -> dict[str, Any]:
    """The ``dataset`` entry of a :class:`~mmrs.data.fashion_sim.FashionSim`: named
    ``fashion-sim-<size>``, with the sha256 of the ``fashion-small`` files it was drawn from (the
    loader verified them), its sizes and its simulation parameters."""
    spec = REGISTRY["fashion-small"]
    data = sim.data
    return records.dataset_entry(
        f"fashion-sim-{sim.params['size']}",
        f"simulated by mmrs.data.fashion_sim over $MMRS_DATA/{spec.folder}",
        spec.files,
        {"n_users": data.n_users, "n_items": data.n_items, "split": data.split_counts(),
         "split_source": data.split_source},
        simulation=sim.params,
        description=repr(data),
    )


def parse_settings(pairs: list[str], model: str | None = None) -> dict[str, Any]:
    """``["dropout=0.8", "modalities=('text',)"]`` -> ``{"dropout": 0.8, "modalities": ("text",)}``.

    Values are Python literals (numbers, tuples, strings). With ``model``, every key must be a
    field of that model's config dataclass (:data:`mmrs.models.MODEL_CONFIGS`); an unknown key is
    an error listing the valid ones. Errors are :class:`argparse.ArgumentTypeError`.
    """
    import ast

    valid: list[str] | None = None
    if model is not None:
        import dataclasses

        from ..models import MODEL_CONFIGS

        if model not in MODEL_CONFIGS:
            raise argparse.ArgumentTypeError(
                f"unknown model {model!r}; choose one of {', '.join(MODEL_CONFIGS)}")
        valid = [f.name for f in dataclasses.fields(MODEL_CONFIGS[model])]
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"--set expects KEY=VALUE, got {pair!r}")
        if valid is not None and key not in valid:
            raise argparse.ArgumentTypeError(
                f"--set {key}: not a setting of {model}; valid keys: {', '.join(valid) or 'none'}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise argparse.ArgumentTypeError(
                f"--set {key}: {value!r} is not a Python literal (e.g. 0.8, ('text',))") from None
    return out


def train_with_rare_metrics(model: Any, data: Any, config: Any, seed: int, command: str,
                            dataset: dict[str, Any] | None = None) -> dict[str, Any]:
    """:func:`mmrs.train.train` ``model`` on ``data``; the training record with the rare-item
    metrics on test (``metrics.rare``: rare items ranked among all items; ``metrics.rare_within``:
    among rare items only; :func:`mmrs.metrics.rare_item_metrics`, items with <= 5 training
    interactions, K 10 and 20). ``dataset`` (a :func:`mmrs.records.dataset_entry`) replaces the
    run's own description (simulated data are described by their simulation)."""
    from ..metrics import rare_item_metrics
    from ..train import train

    record = train(model, data, config, seed=seed, command=command)
    record["metrics"]["rare"] = rare_item_metrics(model, data, "test", ks=(10, 20))
    record["metrics"]["rare_within"] = rare_item_metrics(
        model, data, "test", ks=(10, 20), candidates="rare"
    )
    if dataset is not None:
        record["dataset"] = dataset
    return record
