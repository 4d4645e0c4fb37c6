"""BM3's Table 4: seconds per epoch and peak memory per model, each model alone in its process.

    python benchmarks/bench_table4.py --epochs 3 --torch-threads 1
    python benchmarks/bench_table4.py --dataset fashion-sim-full --epochs 3 --torch-threads 1

Each model trains ``--epochs`` epochs with the shared trainer (evaluation on validation every
epoch, as in the full runs) in its **own subprocess**, so that the peak resident memory belongs
to that model alone; the models run one after the other on an otherwise idle machine, with the
hyper-parameters of the validation-selected records. Amazon Baby (Chapter 4, ID-only): BPR
λ 1e-4; LightGCN 2 layers, λ 1e-4; BM3 ID-only, 1 layer, dropout 0.3, λ 0.1. Full-size
fashion-sim (Chapter 5, image + text features): the same baselines, BM3 (v+t) as run in
Chapter 4, and VBPR and FREEDOM at their selected grid points. Writes
``benchmarks/results/table4_<dataset>.json`` (``table4_baby.json`` for Baby). The full-run
records carry timings too, but they were taken while other jobs shared the cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
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
        "bm3": {"n_layers": 1, "dropout": 0.5, "reg_weight": 0.1},
        "vbpr": {"reg_weight": VBPR_REG},
        "freedom": {"dropout": FREEDOM_DROPOUT, "reg_weight": 1e-3},
    },
}
OUT_NAMES = {"amazon-baby": "table4_baby.json", "fashion-sim-full": "table4_fashion-sim-full.json"}


def load(dataset: str):
    """The dataset of a benchmark row (fashion-sim is simulated with seed 2023, features cached)."""
    if dataset == "fashion-sim-full":
        from mmrs.data.fashion_sim import simulate_fashion

        return simulate_fashion(size="full", seed=2023, progress=False).data
    from mmrs.data import load_interactions

    return load_interactions(dataset)


def one(dataset: str, model_name: str, epochs: int, threads: int) -> dict:
    """Train one model in this process; its timings and peak RSS."""
    import torch

    from mmrs.models import build_model
    from mmrs.train import TrainConfig, train

    torch.set_num_threads(threads)
    data = load(dataset)
    model = build_model(model_name, data, **MODELS[dataset][model_name])
    record = train(model, data, TrainConfig(max_epochs=epochs, patience=epochs, progress=False), seed=2023)
    return {
        "model": model_name,
        "hparams": MODELS[dataset][model_name],
        "epochs": epochs,
        "seconds_per_epoch": {"train": record["timings"]["train_s_per_epoch"],
                              "eval": record["timings"]["eval_s_per_epoch"]},
        "peak_rss_mb": record["peak_rss_mb"],
        "parameters": int(sum(p.numel() for p in model.parameters())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--dataset", choices=sorted(MODELS), default="amazon-baby")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.dataset, args.one, args.epochs, args.torch_threads)))
        return
    out_path = args.out or Path(__file__).parent / "results" / OUT_NAMES[args.dataset]
    rows = []
    for name in MODELS[args.dataset]:
        out = subprocess.run(
            [sys.executable, __file__, "--dataset", args.dataset, "--one", name, "--epochs", str(args.epochs),
             "--torch-threads", str(args.torch_threads)],
            check=True, capture_output=True, text=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1])
    from mmrs import records

    record = {
        "benchmark": f"BM3 Table 4 on {args.dataset}: s/epoch (train, eval) and peak RSS per model",
        "dataset": args.dataset,
        "rows": rows,
        "torch_threads": args.torch_threads,
        "command": "python benchmarks/bench_table4.py"
        + ("" if args.dataset == "amazon-baby" else f" --dataset {args.dataset}")
        + f" --epochs {args.epochs} --torch-threads {args.torch_threads}",
    }
    records.save(records.benchmark_record(record, args.dataset, command=record["command"]), out_path)
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
