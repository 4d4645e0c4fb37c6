"""BM3's Table 4: seconds per epoch and peak memory per model, each model alone in its process.

    python benchmarks/bench_table4.py --epochs 3 --torch-threads 1
    python benchmarks/bench_table4.py --dataset fashion-sim-full --epochs 2 --torch-threads 1

Each model trains ``--epochs`` epochs (the shared trainer's steps: ``pre_epoch``, one pass of
mini-batches of 2048 with one uniform negative per pair, fused Adam, then full-ranking evaluation
on validation, as in the full runs) in its **own subprocess** at ``--torch-threads`` threads, so
that the peak resident memory belongs to that model alone; the models run one after the other.

Times are measured twice: wall seconds (``time.perf_counter``) and the process's **CPU seconds**
(``time.process_time``). At 1 thread the CPU seconds are the compute cost of the epoch and hardly
change when other jobs share the cores (wall seconds grow with the load: on a shared machine they
are not comparable between models run at different moments), so the ratios of the table
(``ratios_cpu``: each model's train s/epoch over BM3's) are taken from CPU seconds.

Datasets and hyper-parameters: Amazon Baby (Chapter 4, ID-only): BPR λ 1e-4; LightGCN 2 layers,
λ 1e-4; BM3 ID-only, 1 layer, dropout 0.3, λ 0.1. Full-size fashion-sim (Chapter 5, image + text
features): the same baselines, BM3 (v+t) as run in Chapter 4, VBPR and FREEDOM at their
validation-selected grid points, and MMGCN, GRCN, DualGNN and LATTICE at MMRec's defaults with a
``reg_weight`` of their grids (the cost per epoch does not depend on it). The fashion-sim is
simulated once (seed 2023, features cached) by the parent and handed to every child as a pickle,
so a child's peak memory is the data, the model and its training, not the simulation. Writes
``benchmarks/results/table4_<dataset>.json`` (``table4_baby.json`` for Baby).

The BM3 paper's Table 4 (GPU, Baby/Sports/Electronics) is not reproduced as numbers here; its
claims are: 2–9× less training time per epoch than the graph-based multimodal baselines, and half
of LATTICE's training time and memory (:data:`PAPER_CLAIMS`).
"""

from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VBPR_REG = 2.0  # the grid point validation selects in Chapter 5 (mmrs.chapters.tables.select_by_validation)
FREEDOM_DROPOUT = 0.8  # likewise

MODELS: dict[str, dict[str, dict]] = {
    "amazon-baby": {
        "bpr": {"reg_weight": 1e-4},
        "lightgcn": {"n_layers": 2, "reg_weight": 1e-4},
        "bm3": {"n_layers": 1, "dropout": 0.3, "reg_weight": 0.1},
    },
    "fashion-sim-full": {
        "bpr": {"reg_weight": 1e-4},
        "lightgcn": {"n_layers": 2, "reg_weight": 1e-4},
        "vbpr": {"reg_weight": VBPR_REG},
        "mmgcn": {"reg_weight": 1e-4},
        "grcn": {"reg_weight": 1e-3},
        "dualgnn": {"reg_weight": 1e-3},
        "lattice": {"reg_weight": 1e-4},
        "bm3": {"n_layers": 1, "dropout": 0.5, "reg_weight": 0.1},
        "freedom": {"dropout": FREEDOM_DROPOUT, "reg_weight": 1e-3},
    },
}
OUT_NAMES = {"amazon-baby": "table4_baby.json", "fashion-sim-full": "table4_fashion-sim-full.json"}
PAPER_CLAIMS = {
    "source": "BM3 paper (Zhou et al., WWW 2023), Section 4.6 and Table 4 (GPU; Baby, Sports, "
              "Electronics); its per-model numbers are not in the documents used here",
    "graph_multimodal_speedup": [2, 9],
    "lattice_time_ratio": 0.5,
    "lattice_memory_ratio": 0.5,
}
"""The BM3 paper's efficiency claims: BM3's training time per epoch is 2–9× smaller than the
graph-based multimodal baselines' (MMGCN, GRCN, DualGNN, LATTICE), and about half of LATTICE's
time and memory."""


def load(dataset: str):
    """The dataset of a benchmark row (fashion-sim is simulated with seed 2023, features cached)."""
    if dataset == "fashion-sim-full":
        from mmrs.data.fashion_sim import simulate_fashion

        return simulate_fashion(size="full", seed=2023, progress=False).data
    from mmrs.data import load_interactions

    return load_interactions(dataset)


def one(dataset: str, model_name: str, epochs: int, threads: int, data_pickle: Path | None) -> dict:
    """Train ``model_name`` for ``epochs`` epochs in this process: wall and CPU seconds per epoch
    (train, validation) and the peak RSS."""
    import numpy as np
    import torch

    from mmrs.models import build_model
    from mmrs.sampling import NegativeSampler
    from mmrs.train import (
        TrainConfig,
        evaluate,
        make_optimizer,
        peak_rss_mb,
        seed_everything,
        train_one_epoch,
    )

    torch.set_num_threads(threads)
    if data_pickle is not None:
        with open(data_pickle, "rb") as handle:
            data = pickle.load(handle)
    else:
        data = load(dataset)
    config = TrainConfig(max_epochs=epochs, patience=epochs, progress=False)
    rng = seed_everything(2023)
    model = build_model(model_name, data, **MODELS[dataset][model_name])
    model.reset_parameters()
    users, items = data.pairs("train")
    sampler = NegativeSampler(data.train, rng, train_items_only=config.train_items_only)
    optimizer = make_optimizer(model.parameters(), config.lr)
    wall = {"train": [], "eval": []}
    cpu = {"train": [], "eval": []}
    for _ in range(epochs):
        model.train()
        w0, c0 = time.perf_counter(), time.process_time()
        model.pre_epoch()
        train_one_epoch(model, optimizer, users, items, sampler, rng, config.batch_size)
        w1, c1 = time.perf_counter(), time.process_time()
        evaluate(model, data, "valid", config)
        w2, c2 = time.perf_counter(), time.process_time()
        wall["train"].append(w1 - w0)
        wall["eval"].append(w2 - w1)
        cpu["train"].append(c1 - c0)
        cpu["eval"].append(c2 - c1)
    return {
        "model": model_name,
        "hparams": MODELS[dataset][model_name],
        "epochs": epochs,
        "seconds_per_epoch": {k: float(np.mean(v)) for k, v in wall.items()},
        "cpu_seconds_per_epoch": {k: float(np.mean(v)) for k, v in cpu.items()},
        "cpu_seconds_each_epoch": cpu,
        "peak_rss_mb": peak_rss_mb(),
        "parameters": int(sum(p.numel() for p in model.parameters())),
    }


def ratios(rows: list[dict], base: str = "bm3") -> dict[str, dict[str, float]]:
    """Each model's train CPU s/epoch and peak RSS over ``base``'s (BM3's)."""
    ref = next(r for r in rows if r["model"] == base)
    return {r["model"]: {"train_cpu": r["cpu_seconds_per_epoch"]["train"]
                         / ref["cpu_seconds_per_epoch"]["train"],
                         "peak_rss": r["peak_rss_mb"] / ref["peak_rss_mb"]} for r in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--dataset", choices=sorted(MODELS), default="amazon-baby")
    parser.add_argument("--models", nargs="*", default=None, help="a subset of the dataset's models")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--data-pickle", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.dataset, args.one, args.epochs, args.torch_threads, args.data_pickle)))
        return
    names = args.models or list(MODELS[args.dataset])
    unknown = sorted(set(names) - set(MODELS[args.dataset]))
    if unknown:
        parser.error(f"--models: {unknown} not benchmarked on {args.dataset}; "
                     f"choose from {list(MODELS[args.dataset])}")
    out_path = args.out or Path(__file__).parent / "results" / OUT_NAMES[args.dataset]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data_pickle = None
        if args.dataset == "fashion-sim-full":  # simulate once; every child unpickles the data
            data_pickle = Path(tmp) / "data.pkl"
            with open(data_pickle, "wb") as handle:
                pickle.dump(load(args.dataset), handle, protocol=pickle.HIGHEST_PROTOCOL)
        for name in names:
            argv = [sys.executable, __file__, "--dataset", args.dataset, "--one", name,
                    "--epochs", str(args.epochs), "--torch-threads", str(args.torch_threads)]
            if data_pickle is not None:
                argv += ["--data-pickle", str(data_pickle)]
            out = subprocess.run(argv, check=True, capture_output=True, text=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    from mmrs import records

    command = ("python benchmarks/bench_table4.py"
               + ("" if args.dataset == "amazon-baby" else f" --dataset {args.dataset}")
               + f" --epochs {args.epochs} --torch-threads {args.torch_threads}")
    record = {
        "benchmark": f"BM3 Table 4 on {args.dataset}: s/epoch (train, eval; wall and CPU) and peak "
                     "RSS per model, each alone in its own process",
        "dataset": args.dataset,
        "epochs": args.epochs,
        "torch_threads": args.torch_threads,
        "rows": rows,
        "ratios_cpu": ratios(rows) if any(r["model"] == "bm3" for r in rows) else {},
        "timing_note": "ratios from CPU seconds (time.process_time at 1 thread: the compute cost, "
                       "robust to other jobs on the cores); wall seconds kept beside them",
        "paper_claims": PAPER_CLAIMS,
        "command": command,
    }
    records.save(records.benchmark_record(record, args.dataset, command=command), out_path)
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
