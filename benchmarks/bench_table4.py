"""BM3's Table 4 on Amazon Baby: seconds per epoch and peak memory of BPR, LightGCN and BM3.

    python benchmarks/bench_table4.py --epochs 3 --torch-threads 1

Each model trains ``--epochs`` epochs with the shared trainer (evaluation on validation every
epoch, as in the full runs) in its **own subprocess**, so that the peak resident memory belongs
to that model alone; the models run one after the other on an otherwise idle machine, with the
hyper-parameters of the validation-selected records (BPR λ 1e-4; LightGCN 2 layers, λ 1e-4;
BM3 ID-only, 1 layer, dropout 0.3, λ 0.1). Writes ``benchmarks/results/table4_baby.json``.
The full-run records carry timings too, but they were taken while other jobs shared the cores.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

MODELS: dict[str, dict] = {
    "bpr": {"reg_weight": 1e-4},
    "lightgcn": {"n_layers": 2, "reg_weight": 1e-4},
    "bm3": {"n_layers": 1, "dropout": 0.3, "reg_weight": 0.1},
}


def one(model_name: str, epochs: int, threads: int) -> dict:
    """Train one model in this process; its timings and peak RSS."""
    import torch

    from mmrs.data import load_interactions
    from mmrs.models import build_model
    from mmrs.train import TrainConfig, train

    torch.set_num_threads(threads)
    data = load_interactions("amazon-baby")
    model = build_model(model_name, data, **MODELS[model_name])
    record = train(model, data, TrainConfig(max_epochs=epochs, patience=epochs, progress=False), seed=2023)
    return {
        "model": model_name,
        "hparams": MODELS[model_name],
        "epochs": epochs,
        "seconds_per_epoch": record["seconds_per_epoch"],
        "peak_rss_mb": record["peak_rss_mb"],
        "parameters": int(sum(p.numel() for p in model.parameters())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--one", choices=sorted(MODELS), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "table4_baby.json")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.epochs, args.torch_threads)))
        return
    rows = []
    for name in MODELS:
        out = subprocess.run(
            [sys.executable, __file__, "--one", name, "--epochs", str(args.epochs),
             "--torch-threads", str(args.torch_threads)],
            check=True, capture_output=True, text=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1])
    from mmrs.provenance import git_revision
    from mmrs.train import save_record

    record = {
        "benchmark": "BM3 Table 4 on Amazon Baby: s/epoch (train, eval) and peak RSS per model",
        "rows": rows,
        "torch_threads": args.torch_threads,
        "machine": platform.platform(),
        "git_revision": git_revision(),
        "command": f"python benchmarks/bench_table4.py --epochs {args.epochs} --torch-threads {args.torch_threads}",
    }
    save_record(record, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
