"""Seconds per epoch: our BM3 vs a straightforward port of the reference training loop.

    python benchmarks/bench_bm3.py --size medium --epochs 1 --torch-threads 1
    python benchmarks/bench_bm3.py --dataset amazon-baby --epochs 1 --torch-threads 1   # ID-only

``--size`` simulates fashion-sim (image + text features); ``--dataset`` loads a registry dataset
(Amazon Baby here has no feature files, so BM3 is ID-only there). The reference propagates with
``torch.sparse.mm`` on a COO adjacency as the reference code does; ours uses the CSR product with
the symmetric custom backward of :mod:`mmrs.models.lightgcn`.

Both models start from the same parameters (state dict copied). With dropout 0 the first
batches must give equal losses (asserted: the two compute the same function; with dropout > 0
only the random masks differ). Then each trains ``--epochs`` epochs with dropout 0.5 (same
process, same data, same batches) and the mean seconds per epoch are written to
``benchmarks/results/bm3_vs_reference.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from mmrs import records
from mmrs.data import load_interactions
from mmrs.data.fashion_sim import simulate_fashion
from mmrs.models.bm3 import BM3
from mmrs.models.bm3_reference import ReferenceBM3


def epoch(model: BM3, users: np.ndarray, items: np.ndarray, batch: int, seed: int, max_batches: int | None = None) -> list[float]:
    """One pass of Adam steps over the shuffled pairs; the batch losses."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(users))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for k, start in enumerate(range(0, len(order), batch)):
        if max_batches is not None and k >= max_batches:
            break
        idx = order[start : start + batch]
        opt.zero_grad(set_to_none=True)
        loss = model.calculate_loss(torch.from_numpy(users[idx]), torch.from_numpy(items[idx]))
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="medium", help="fashion-sim size (ignored with --dataset)")
    parser.add_argument("--dataset", default=None, help="a registry dataset instead of fashion-sim")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="default benchmarks/results/bm3_vs_reference_<data>.json")
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    if args.dataset:
        data = load_interactions(args.dataset)
    else:
        data = simulate_fashion(size=args.size, progress=False).data
    users, items = data.pairs("train")
    result = {"dataset": repr(data), "batch_size": args.batch_size, "epochs": args.epochs}
    checks = []
    for p in (0.0, 0.5):
        ours = BM3(data.train, data.features, dropout=p)
        ref = ReferenceBM3(data.train, data.features, dropout=p)
        ref.load_state_dict(ours.state_dict())
        if p == 0.0:
            a = epoch(ours, users, items, args.batch_size, 0, max_batches=3)
            b = epoch(ref, users, items, args.batch_size, 0, max_batches=3)
            print("first batches, dropout 0: ours", a, "reference", b)
            np.testing.assert_allclose(a, b, rtol=1e-5)
            checks = [{"ours": x, "reference": y} for x, y in zip(a, b, strict=True)]
            continue
        times = {}
        for name, model in (("ours", ours), ("reference", ref)):
            tic = time.perf_counter()
            for e in range(args.epochs):
                epoch(model, users, items, args.batch_size, e)
            times[name] = (time.perf_counter() - tic) / args.epochs
        result["seconds_per_epoch"] = times
        result["speedup"] = times["reference"] / times["ours"]
    result.update(
        first_batch_losses_dropout0=checks,
        torch_threads=torch.get_num_threads(),
        command="python benchmarks/bench_bm3.py "
        + (f"--dataset {args.dataset}" if args.dataset else f"--size {args.size}")
        + f" --epochs {args.epochs} "
        f"--batch-size {args.batch_size} --torch-threads {args.torch_threads}",
    )
    print(json.dumps(result, indent=2))
    out = Path(args.out or f"benchmarks/results/bm3_vs_reference_{args.dataset or args.size}.json")
    records.save(records.benchmark_record(result, records.dataset_entry(
        data.name, sizes={"n_users": data.n_users, "n_items": data.n_items}, description=repr(data)),
        command=result["command"]), out)


if __name__ == "__main__":
    main()
