"""Replication command for Chapter 4: BM3, its ablations and ID baselines on ``fashion-sim``.

    python -m mmrs.experiments.bm3 --profile full --variants "BM3 (v+t)" LightGCN \\
        --out book/results/bm3_fashion-sim-full.json

Writes one ``train-set`` record (:mod:`mmrs.records`) holding a training record per variant
(``body.runs``), each with ``metrics.rare`` and ``metrics.rare_within``
(:func:`mmrs.metrics.rare_item_metrics` on test, items with <= 5 training interactions, ranked
among all items / among rare items only). Sizes come from the profile (``--size`` and
``--max-epochs`` override them). The experiment's points are listed by ``python -m mmrs run bm3
--list``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from typing import Any

import torch

from .. import records
from ..config import PROFILES, device_name, profile
from ..data.fashion_sim import SIZES
from ..models.bm3 import BM3
from ..provenance import git_state
from ..train import TrainConfig
from .common import (
    add_device_argument,
    checked_device,
    json_out,
    non_negative_int,
    positive_int,
    simulation_dataset,
    train_with_rare_metrics,
)

VARIANTS: dict[str, dict[str, Any]] = {
    "BM3 (v+t)": {"modalities": ("image", "text")},
    "w/o v": {"modalities": ("text",)},
    "w/o t": {"modalities": ("image",)},
    "w/o v&t": {"modalities": ()},
    "w/o inter": {"modalities": ("image", "text"), "use_inter": False},
    "w/o intra": {"modalities": ("image", "text"), "use_intra": False},
}
BASELINES: tuple[str, ...] = ("LightGCN", "BPR")


def make_model(variant: str, data: Any, **hparams: Any) -> Any:
    """The model of a table row: a BM3 variant (:data:`VARIANTS`) or an ID baseline."""
    from ..models import build_model

    if variant in VARIANTS:
        return BM3(data.train, data.features, **{**VARIANTS[variant], **hparams})
    if variant in BASELINES:
        return build_model(variant.lower(), data)
    raise ValueError(f"unknown variant {variant!r}; choose from {[*VARIANTS, *BASELINES]}")


def capped_config(max_epochs: int, patience: int, device: str | None = None) -> TrainConfig:
    """The training settings of the replication runs: an epoch cap recorded with a note that a
    run which did not stop early hit the cap and may not have converged; ``device`` as
    :func:`mmrs.config.device_name` (default ``$MMRS_DEVICE`` or ``cpu``)."""
    return TrainConfig(
        max_epochs=max_epochs, patience=patience, device=device_name(device),
        extra={
            "epoch_cap": max_epochs,
            "note": "epochs capped for CPU time: a run with stopped_early false hit the cap "
            "and may not have converged",
        },
    )


def run_variants(
    data: Any, variants: list[str], config: TrainConfig, seed: int, command: str,
    dataset: dict[str, Any] | None = None, **hparams: Any,
) -> dict[str, Any]:
    """Train every variant on ``data``; ``{variant: train record}``, each with the rare-item
    metrics on test (``metrics.rare``, ``metrics.rare_within``) and ``body.variant``;
    ``dataset`` (a :func:`mmrs.records.dataset_entry`) replaces the run's own description."""
    out = {}
    for variant in variants:
        model = make_model(variant, data, **(hparams if variant in VARIANTS else {}))
        record = train_with_rare_metrics(model, data, config, seed, command, dataset)
        record["body"]["variant"] = variant
        records.validate(record, f"run {variant!r}")
        out[variant] = record
    return out


def parser() -> argparse.ArgumentParser:
    """The command line; every value is checked before the simulation starts."""
    prof = profile()
    out = argparse.ArgumentParser(prog="python -m mmrs.experiments.bm3",
                                  description=__doc__.splitlines()[0])
    out.add_argument("--profile", choices=sorted(PROFILES), default=None,
                     help="sizes (default: $MMRS_PROFILE or ci)")
    out.add_argument("--size", choices=sorted(SIZES), default=None,
                     help=f"fashion-sim size (default: the profile's, now {prof.fashion_sim})")
    out.add_argument("--seed", type=int, default=2023,
                     help="seed of the simulated users (and of the model, unless --model-seed)")
    out.add_argument("--model-seed", type=int, default=None,
                     help="seed of the model alone (default: --seed); other model seeds over the "
                          "same simulated users")
    out.add_argument("--max-epochs", type=positive_int, default=None,
                     help=f"default: the profile's epoch cap (now {prof.epoch_cap})")
    out.add_argument("--patience", type=non_negative_int, default=20)
    out.add_argument("--variants", nargs="+", choices=[*VARIANTS, *BASELINES],
                     default=[*VARIANTS, *BASELINES], metavar="VARIANT",
                     help=f"table rows to train, from: {', '.join([*VARIANTS, *BASELINES])}")
    out.add_argument("--torch-threads", type=positive_int, default=1)
    add_device_argument(out, "train and extract features")
    out.add_argument("--out", type=json_out, required=True)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cli = parser()
    args = cli.parse_args(argv)
    git_state()  # the record states the tree this run starts from
    device = checked_device(cli, args.device)
    prof = profile(args.profile)
    size = args.size or prof.fashion_sim
    max_epochs = args.max_epochs or prof.epoch_cap
    torch.set_num_threads(args.torch_threads)
    from ..data.fashion_sim import simulate_fashion

    command = shlex.join(["python", "-m", "mmrs.experiments.bm3", *argv])
    tic = time.perf_counter()
    sim = simulate_fashion(size=size, seed=args.seed, device=device)
    data_seconds = time.perf_counter() - tic
    config = capped_config(max_epochs, args.patience, device)
    dataset = simulation_dataset(sim)
    model_seed = args.seed if args.model_seed is None else args.model_seed
    runs = run_variants(sim.data, args.variants, config, model_seed, command, dataset)
    record = records.new_record(
        "train-set", dataset=dataset, config={"variants": list(runs), "profile": prof.name},
        metrics={}, seeds={"model": model_seed, "simulation": args.seed},
        timings={"data_s": data_seconds}, body={"runs": runs}, command=command,
        argv=shlex.split(command),
    )
    records.save(record, args.out)
    for variant, run in runs.items():
        print(f"{variant}: valid R@20 {run['metrics']['valid']['recall@20']:.4f}, "
              f"test R@20 {run['metrics']['test']['recall@20']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
