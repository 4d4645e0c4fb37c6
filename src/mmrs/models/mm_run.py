"""Replication command for Chapter 5: one grid point of a feature-based model on ``fashion-sim``.

    python -m mmrs.models.mm_run --size full --model freedom --set dropout=0.8 reg_weight=0.001 \\
        --max-epochs 150 --patience 20 --torch-threads 1 \\
        --out book/results/grid/freedom_fashion-sim-full_d0.8_r0.001.json

Writes one :func:`mmrs.train.train` record (so :func:`mmrs.results.select_by_validation` can pick
among grid points) with ``dataset`` set to ``fashion-sim-<size>``, plus ``rare`` and
``rare_within`` (:func:`~mmrs.models.bm3_analysis.rare_item_metrics` on test, items with <= 5
training interactions, ranked among all items / among rare items only), ``dataset_repr`` and
``sim_params`` (to check that it was made on the same simulated data as Chapter 4's records).
"""

from __future__ import annotations

import argparse
import ast
import shlex
import sys
import time
from typing import Any

import torch

from ..train import TrainConfig, save_record, train
from .bm3_analysis import rare_item_metrics
from .bm3_run import capped_config


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """``["dropout=0.8", "modalities=('text',)"]`` -> ``{"dropout": 0.8, "modalities": ("text",)}``.

    Values are Python literals (numbers, tuples, strings); anything else is an error naming it.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise SystemExit(f"--set {key}: {value!r} is not a Python literal (e.g. 0.8, ('text',))") from None
    return out


def run_point(
    model_name: str, data: Any, config: TrainConfig, seed: int, command: str, **hparams: Any
) -> dict[str, Any]:
    """Train ``model_name`` with ``hparams`` on ``data``; the record plus rare-item metrics."""
    from . import build_model

    model = build_model(model_name, data, **hparams)
    record = train(model, data, config, seed=seed, command=command)
    record["rare"] = rare_item_metrics(model, data, "test", ks=(10, 20))
    record["rare_within"] = rare_item_metrics(model, data, "test", ks=(10, 20), candidates="rare")
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="full")
    parser.add_argument("--model", required=True, help="a name from mmrs.models.MODELS")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="model hyper-parameters")
    parser.add_argument("--seed", type=int, default=2023)
    parser.add_argument("--max-epochs", type=int, default=150)
    parser.add_argument("--patience", type=int, default=20)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.torch_threads)
    from ..data.fashion_sim import simulate_fashion

    hparams = parse_settings(args.set)
    command = shlex.join(["python", "-m", "mmrs.models.mm_run", *(argv or sys.argv[1:])])
    tic = time.perf_counter()
    sim = simulate_fashion(size=args.size, seed=args.seed)
    data_seconds = time.perf_counter() - tic
    config = capped_config(args.max_epochs, args.patience)
    record = run_point(args.model, sim.data, config, args.seed, command, **hparams)
    record.update(dataset=f"fashion-sim-{args.size}", dataset_repr=repr(sim.data),
                  sim_params=sim.params, data_seconds=data_seconds)
    save_record(record, args.out)
    print(
        f"{args.model} {hparams}: best epoch {record['best_epoch']} of {record['epochs_run']}, "
        f"valid R@20 {record['valid']['recall@20']:.4f}, test R@20 {record['test']['recall@20']:.4f}"
    )


if __name__ == "__main__":
    main()
