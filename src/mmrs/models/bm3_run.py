"""Replication command for Chapter 4: BM3, its ablations and ID baselines on ``fashion-sim``.

    python -m mmrs.models.bm3_run --size medium --max-epochs 20 --torch-threads 1 \\
        --out book/results/bm3_fashion-sim.json

Writes one JSON with a :func:`mmrs.train.train` record per variant (``runs``), each extended
with ``rare`` and ``rare_within`` (:func:`~mmrs.models.bm3_analysis.rare_item_metrics` on test,
items with <= 5 training interactions, ranked among all items / among rare items only), and the
dataset's description.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from typing import Any

import torch

from ..train import TrainConfig, save_record, train
from .bm3 import BM3
from .bm3_analysis import rare_item_metrics

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
    from . import build_model

    if variant in VARIANTS:
        return BM3(data.train, data.features, **{**VARIANTS[variant], **hparams})
    if variant in BASELINES:
        return build_model(variant.lower(), data)
    raise ValueError(f"unknown variant {variant!r}; choose from {[*VARIANTS, *BASELINES]}")


def capped_config(max_epochs: int, patience: int) -> TrainConfig:
    """The training settings of the replication runs: an epoch cap recorded with a note that a
    run which did not stop early hit the cap and may not have converged."""
    return TrainConfig(
        max_epochs=max_epochs, patience=patience,
        extra={
            "epoch_cap": max_epochs,
            "note": "epochs capped for CPU time: a run with stopped_early false hit the cap "
            "and may not have converged",
        },
    )


def run_variants(
    data: Any, variants: list[str], config: TrainConfig, seed: int, command: str, **hparams: Any
) -> dict[str, Any]:
    """Train every variant on ``data``; ``{variant: record + rare}``."""
    out = {}
    for variant in variants:
        model = make_model(variant, data, **(hparams if variant in VARIANTS else {}))
        record = train(model, data, config, seed=seed, command=command)
        record["variant"] = variant
        record["rare"] = rare_item_metrics(model, data, "test", ks=(10, 20))
        record["rare_within"] = rare_item_metrics(model, data, "test", ks=(10, 20), candidates="rare")
        out[variant] = record
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="medium")
    parser.add_argument("--seed", type=int, default=2023)
    parser.add_argument("--max-epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=20)
    parser.add_argument("--variants", nargs="*", default=[*VARIANTS, *BASELINES])
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.torch_threads)
    from ..data.fashion_sim import simulate_fashion

    command = shlex.join(["python", "-m", "mmrs.models.bm3_run", *(argv or sys.argv[1:])])
    tic = time.perf_counter()
    sim = simulate_fashion(size=args.size, seed=args.seed)
    data_seconds = time.perf_counter() - tic
    config = capped_config(args.max_epochs, args.patience)
    runs = run_variants(sim.data, args.variants, config, args.seed, command)
    save_record(
        {"command": command, "dataset": repr(sim.data), "sim_params": sim.params,
         "data_seconds": data_seconds, "runs": runs},
        args.out,
    )


if __name__ == "__main__":
    main()
