"""Replication command for Chapter 5: one grid point of a feature-based model on ``fashion-sim``.

    python -m mmrs.experiments.feature_models --size full --model freedom --set dropout=0.8 reg_weight=0.001 \\
        --max-epochs 150 --patience 20 --torch-threads 1 \\
        --out book/results/grid/freedom_fashion-sim-full_d0.8_r0.001.json

Writes one ``train`` record (:mod:`mmrs.records`; so
:func:`mmrs.chapters.tables.select_by_validation` can pick among grid points) whose ``dataset`` is
``fashion-sim-<size>`` with the simulation's parameters and description (to check that it was made
on the same simulated data as Chapter 4's records), and with ``metrics.rare`` and
``metrics.rare_within`` (:func:`mmrs.metrics.rare_item_metrics` on test, items with <= 5 training
interactions, ranked among all items / among rare items only).

Two reference points need no training (evaluated once, ``best_epoch`` 0): ``--model itemknn``
(content item-kNN, :class:`mmrs.models.ItemKNN`) and ``--model oracle`` (the simulated users' true
utilities, :class:`mmrs.models.UtilityOracle`; no ``--set``)::

    python -m mmrs.experiments.feature_models --size full --model oracle --torch-threads 1 \\
        --out book/results/oracle_fashion-sim-full.json
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from typing import Any

import torch

from .. import records
from ..config import PROFILES, profile
from ..data.fashion_sim import SIZES
from ..models import MODELS
from ..provenance import git_state
from ..train import TrainConfig
from .bm3 import capped_config
from .common import (
    add_device_argument,
    checked_device,
    json_out,
    non_negative_int,
    parse_settings,
    positive_int,
    simulation_dataset,
    train_with_rare_metrics,
)

ORACLE = "oracle"
"""``--model`` name of the attribute oracle (not in :data:`mmrs.models.MODELS`: it needs the
simulation, not only the data)."""


def run_point(
    model_name: str, data: Any, config: TrainConfig, seed: int, command: str,
    dataset: dict[str, Any] | None = None, **hparams: Any,
) -> dict[str, Any]:
    """Train ``model_name`` with ``hparams`` on ``data``; the training record with the rare-item
    metrics on test (``metrics.rare``, ``metrics.rare_within``); ``dataset`` (a
    :func:`mmrs.records.dataset_entry`) replaces the run's own description."""
    from ..models import build_model

    model = build_model(model_name, data, **hparams)
    return train_with_rare_metrics(model, data, config, seed, command, dataset)


def parser() -> argparse.ArgumentParser:
    """The command line; every value is checked before the simulation starts."""
    prof = profile()
    out = argparse.ArgumentParser(prog="python -m mmrs.experiments.feature_models",
                                  description=__doc__.splitlines()[0])
    out.add_argument("--profile", choices=sorted(PROFILES), default=None,
                     help="sizes (default: $MMRS_PROFILE or ci)")
    out.add_argument("--size", choices=sorted(SIZES), default=None,
                     help=f"fashion-sim size (default: the profile's, now {prof.fashion_sim})")
    out.add_argument("--model", required=True, choices=(*MODELS, ORACLE),
                     help=f"a model of mmrs.models, or {ORACLE!r}: the simulation's true utilities")
    out.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                     help="model hyper-parameters (fields of the model's config)")
    out.add_argument("--seed", type=int, default=2023,
                     help="seed of the simulated users (and of the model, unless --model-seed)")
    out.add_argument("--model-seed", type=int, default=None,
                     help="seed of the model alone (default: --seed); other model seeds over the "
                          "same simulated users")
    out.add_argument("--max-epochs", type=positive_int, default=None,
                     help=f"default: the profile's epoch cap (now {prof.epoch_cap})")
    out.add_argument("--patience", type=non_negative_int, default=20)
    out.add_argument("--torch-threads", type=positive_int, default=1)
    add_device_argument(out, "train and extract features")
    out.add_argument("--out", type=json_out, required=True)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cli = parser()
    args = cli.parse_args(argv)
    git_state()  # the record states the tree this run starts from
    try:
        if args.model == ORACLE and args.set:
            raise argparse.ArgumentTypeError("--set: the oracle has no settings; drop --set")
        hparams = {} if args.model == ORACLE else parse_settings(args.set, args.model)
    except argparse.ArgumentTypeError as error:
        cli.error(str(error))
    device = checked_device(cli, args.device)
    prof = profile(args.profile)
    torch.set_num_threads(args.torch_threads)
    from ..data.fashion_sim import simulate_fashion

    command = shlex.join(["python", "-m", "mmrs.experiments.feature_models", *argv])
    tic = time.perf_counter()
    sim = simulate_fashion(size=args.size or prof.fashion_sim, seed=args.seed, device=device)
    data_seconds = time.perf_counter() - tic
    config = capped_config(args.max_epochs or prof.epoch_cap, args.patience, device)
    model_seed = args.seed if args.model_seed is None else args.model_seed
    if args.model == ORACLE:
        from ..models import UtilityOracle

        record = train_with_rare_metrics(UtilityOracle(sim), sim.data, config, model_seed, command,
                                         simulation_dataset(sim))
    else:
        record = run_point(args.model, sim.data, config, model_seed, command,
                           simulation_dataset(sim), **hparams)
    record["seeds"]["simulation"] = args.seed
    record["timings"]["data_s"] = data_seconds
    records.save(record, args.out)
    print(
        f"{args.model} {hparams}: best epoch {record['body']['best_epoch']} of "
        f"{record['body']['epochs_run']}, valid R@20 {record['metrics']['valid']['recall@20']:.4f}, "
        f"test R@20 {record['metrics']['test']['recall@20']:.4f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
