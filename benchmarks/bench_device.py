"""CPU vs CUDA: seconds per epoch, and the same metrics, for LightGCN and ID-only BM3 on Amazon Baby.

    MMRS_DATA=... python benchmarks/bench_device.py --epochs 5 --out
    MMRS_DATA=... python benchmarks/bench_device.py --epochs 1 --devices cpu      # a smoke run

Each model (MMRec's Baby settings: LightGCN 2 layers, λ 1e-4; BM3 without features, 1 layer,
dropout 0.5, λ 0.1; 64-d, batches of 2,048, Adam 1e-3) trains exactly ``--epochs`` epochs on each
device with the same seed, through the trainer's own steps (:func:`mmrs.train.train_one_epoch`
and :func:`mmrs.train.evaluate`: full-ranking validation after every epoch), then the test split
is evaluated once with the last epoch's parameters. The parameters are initialised on the CPU
and the negatives drawn by NumPy, so both devices start from the same weights and see the same
triples. BM3's dropout masks would come from each device's own random generator (a different
stream on CUDA), so here they are drawn on the CPU and copied over (:class:`PortableBM3`,
otherwise BM3 itself): the two runs then differ only by floating-point rounding, and their
validation and test metrics must agree within ``--tolerance`` (checked; exit code 1 if not).

Never run by the tests (it needs the real data and, for the comparison, a CUDA GPU; without one
the CUDA runs are skipped with a message). Prints one line per run; with ``--out`` (default
path ``benchmarks/results/device_amazon-baby.json``) writes a ``benchmark`` record
(:func:`mmrs.records.benchmark_record`).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS, before torch

import torch  # noqa: E402

from mmrs import records  # noqa: E402
from mmrs.data import load_interactions  # noqa: E402
from mmrs.models import LightGCN  # noqa: E402
from mmrs.models.bm3 import BM3  # noqa: E402
from mmrs.sampling import NegativeSampler  # noqa: E402
from mmrs.train import (  # noqa: E402
    TrainConfig,
    dataset_entry,
    deterministic_algorithms,
    evaluate,
    resolve_device,
    seed_everything,
    train_one_epoch,
)

RESULTS = Path(__file__).resolve().parent / "results" / "device_amazon-baby.json"
DATASET = "amazon-baby"
HPARAMS: dict[str, dict[str, Any]] = {
    "lightgcn": {"embedding_dim": 64, "n_layers": 2, "reg_weight": 1e-4},
    "bm3": {"modalities": (), "embedding_dim": 64, "feat_embed_dim": 64, "n_layers": 1,
            "dropout": 0.5, "reg_weight": 0.1},
}


class PortableBM3(BM3):
    """:class:`~mmrs.models.bm3.BM3` whose dropout masks are drawn from the CPU generator and
    copied to the model's device, so that every device sees the same masks for the same seed
    (same distribution as ``F.dropout``: keep with probability ``1 - p``, scale by ``1/(1-p)``)."""

    name = "bm3"

    def target(self, h: torch.Tensor) -> torch.Tensor:
        assert self.collapse_variant is None
        keep = 1.0 - self.dropout
        with torch.no_grad():
            mask = torch.empty(h.shape, dtype=h.dtype).bernoulli_(keep).to(h.device)
            return h.detach() * mask / keep


def build(name: str, data: Any) -> torch.nn.Module:
    if name == "lightgcn":
        return LightGCN(data.train, **HPARAMS[name])
    return PortableBM3(data.train, features={}, **HPARAMS[name])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(name: str, data: Any, device: torch.device, epochs: int, seed: int) -> dict[str, Any]:
    """``epochs`` epochs of ``name`` on ``device`` (the trainer's steps, no early stopping);
    seconds per epoch, the validation history and the last epoch's test metrics."""
    config = TrainConfig(max_epochs=epochs, patience=epochs, progress=False, device=device.type)
    model = build(name, data)
    with deterministic_algorithms(config.deterministic):
        rng = seed_everything(seed)
        model.reset_parameters()  # on the CPU: the same initial weights on every device
        model.to(device)
        users, items = data.pairs("train")
        sampler = NegativeSampler(data.train, rng, train_items_only=config.train_items_only)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        train_s, eval_s, history = [], [], []
        for epoch in range(1, epochs + 1):
            model.train()
            _sync(device)
            tic = time.perf_counter()
            model.pre_epoch()
            loss = train_one_epoch(
                model, optimizer, users, items, sampler, rng, config.batch_size, device
            )
            _sync(device)
            train_s.append(time.perf_counter() - tic)
            valid, seconds = evaluate(model, data, "valid", config, device)
            eval_s.append(seconds)
            history.append({"epoch": epoch, "loss": loss, "valid": valid})
        model.train()
        test, test_s = evaluate(model, data, "test", config, device)
    return {
        "model": name,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "hparams": {k: list(v) if isinstance(v, tuple) else v for k, v in HPARAMS[name].items()},
        "epochs": epochs,
        "seconds_per_epoch": {"train": sum(train_s) / epochs, "eval": sum(eval_s) / epochs},
        "test_eval_s": test_s,
        "history": history,
        "test": test,
    }


def max_difference(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Largest absolute difference between two runs' validation (every epoch) and test metrics."""
    pairs = [(a["test"], b["test"])] + [
        (x["valid"], y["valid"]) for x, y in zip(a["history"], b["history"], strict=True)
    ]
    return max(abs(x[k] - y[k]) for x, y in pairs for k in x)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--devices", nargs="+", choices=["cpu", "cuda"], default=["cpu", "cuda"])
    parser.add_argument("--models", nargs="+", choices=sorted(HPARAMS), default=list(HPARAMS))
    parser.add_argument("--seed", type=int, default=2023)
    parser.add_argument("--tolerance", type=float, default=1e-3,
                        help="largest allowed |CPU - CUDA| of any validation or test metric")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch.set_num_threads for the CPU runs (default: torch's)")
    parser.add_argument("--out", type=Path, nargs="?", const=RESULTS, default=None,
                        help=f"write the benchmark record (default path {RESULTS})")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    devices = []
    for name in dict.fromkeys(args.devices):
        if name == "cuda" and not torch.cuda.is_available():
            print("CUDA is not available here: the CUDA runs (and the comparison) are skipped.")
            continue
        devices.append(resolve_device(name))
    if args.torch_threads is not None:
        torch.set_num_threads(args.torch_threads)
    data = load_interactions(DATASET)
    runs: list[dict[str, Any]] = []
    for model in args.models:
        for device in devices:
            runs.append(run(model, data, device, args.epochs, args.seed))
            r = runs[-1]
            print(f"{model:<9} {r['device']:<6} train {r['seconds_per_epoch']['train']:8.2f} s/epoch, "
                  f"eval {r['seconds_per_epoch']['eval']:6.2f} s, "
                  f"test R@20 {r['test']['recall@20']:.4f}, NDCG@20 {r['test']['ndcg@20']:.4f}",
                  flush=True)
    comparison, ok = {}, True
    for model in args.models:
        by_device = {r["device"].split(":")[0]: r for r in runs if r["model"] == model}
        if {"cpu", "cuda"} <= set(by_device):
            cpu, cuda = by_device["cpu"], by_device["cuda"]
            diff = max_difference(cpu, cuda)
            agree = diff <= args.tolerance
            ok &= agree
            comparison[model] = {
                "max_abs_metric_difference": diff, "tolerance": args.tolerance, "agree": agree,
                "speedup_train": cpu["seconds_per_epoch"]["train"] / cuda["seconds_per_epoch"]["train"],
                "speedup_eval": cpu["seconds_per_epoch"]["eval"] / cuda["seconds_per_epoch"]["eval"],
            }
            print(f"{model}: max |CPU - CUDA| metric difference {diff:.2e} "
                  f"({'within' if agree else 'OVER'} {args.tolerance:g}); train speed-up "
                  f"{comparison[model]['speedup_train']:.1f}x, eval {comparison[model]['speedup_eval']:.1f}x")
    if args.out is not None:
        command = shlex.join(["python", "benchmarks/bench_device.py", *argv])
        result = {
            "benchmark": "CPU vs CUDA: s/epoch and metrics after a fixed number of epochs, same seed",
            "epochs": args.epochs,
            "torch_threads": args.torch_threads if args.torch_threads is not None else torch.get_num_threads(),
            "settings": {"seed": args.seed, "batch_size": 2048, "lr": 1e-3,
                         "bm3_dropout_masks": "drawn on the CPU, copied to the device"},
            "runs": runs,
            "comparison": comparison,
        }
        record = records.benchmark_record(result, dataset_entry(data), command=command)
        print(f"wrote {records.save(record, args.out)}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
