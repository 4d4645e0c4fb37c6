"""The complexity formulas against measured cost: LATTICE's item–item graph vs BM3's projection.

    python benchmarks/bench_complexity.py --torch-threads 1 [--sizes 1000 2000 4000 8000 16000]

The BM3 paper's Section 3 gives LATTICE's item–item graph ``O(|I|² d_m)`` to build (every pair of
items compared on the ``d_m``-dimensional features) and BM3's multimodal part ``O(Σ_m |I| d_m d)``
(one linear projection per modality). Here both are timed as the number of items ``|I|`` grows,
on synthetic Gaussian features with Amazon Baby's widths (image 4,096-d, text 384-d; the cost does
not depend on the values), with the library's own code:

* ``lattice_raw_graph``: the weighted kNN graphs of the raw features of both modalities
  (:func:`mmrs.models.lattice.knn_entries` + :func:`~mmrs.models.lattice.normalize_entries`,
  ``k`` = 10), built once per run: ``O(|I|² Σ_m d_m)``;
* ``lattice_learned_graph``: the graph LATTICE re-learns every epoch: both projections to
  ``d'`` = 64 and the kNN graphs of the projected features, with gradients and their backward
  pass: ``O(|I| Σ_m d_m d' + |I|² d')``;
* ``bm3_projection``: BM3's projections ``h_m = e_m W_m + b_m`` of all items, forward and
  backward: ``O(|I| Σ_m d_m d')``.

Each step is timed in **CPU seconds** (``time.process_time``, 1 thread: the compute cost, robust to
other jobs sharing the cores), the median of ``--repeats``; the slope of ``log t`` against
``log |I|`` is fitted by least squares over all sizes (``slopes``) and over the largest three
(``slopes_top3``, where fixed overheads matter least). The formulas predict 2 for the graphs and 1
for the projection. Writes ``benchmarks/results/complexity.json``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mmrs import records
from mmrs.models.lattice import knn_entries, normalize_entries

RESULTS = Path(__file__).resolve().parent / "results" / "complexity.json"
DIMS = {"image": 4096, "text": 384}  # Amazon Baby's feature widths (MMRec's feature files)
STEPS = ("lattice_raw_graph", "lattice_learned_graph", "bm3_projection")


def cpu_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median CPU seconds of ``fn()`` over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return float(np.median(times))


def log_log_slope(sizes: list[int], seconds: list[float]) -> float:
    """Least-squares slope of ``log(seconds)`` against ``log(sizes)``."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def measure(n_items: int, repeats: int, knn_k: int = 10, dim: int = 64, seed: int = 0) -> dict[str, float]:
    """CPU seconds of each step (module docstring) at ``n_items`` items."""
    gen = torch.Generator().manual_seed(seed)
    feats = {m: torch.randn(n_items, d, generator=gen) for m, d in DIMS.items()}
    tables = {m: nn.Parameter(x.clone()) for m, x in feats.items()}
    proj = {m: nn.Linear(d, dim) for m, d in DIMS.items()}

    def raw_graph() -> None:
        for x in feats.values():
            normalize_entries(knn_entries(x, knn_k), n_items)

    def learned_graph() -> None:
        values = [normalize_entries(knn_entries(proj[m](tables[m]), knn_k), n_items)[2]
                  for m in DIMS]
        sum(v.sum() for v in values).backward()

    def projection() -> None:
        sum(proj[m](tables[m]).sum() for m in DIMS).backward()

    return {"lattice_raw_graph": cpu_seconds(raw_graph, repeats),
            "lattice_learned_graph": cpu_seconds(learned_graph, repeats),
            "bm3_projection": cpu_seconds(projection, repeats)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000, 8000, 16000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if len(args.sizes) < 2 or min(args.sizes) < 10:
        parser.error("--sizes: give at least two item counts, each >= 10")
    torch.set_num_threads(args.torch_threads)
    rows = []
    for n in args.sizes:
        rows.append({"n_items": n, "cpu_s": measure(n, args.repeats)})
        print(rows[-1], flush=True)
    sizes = [r["n_items"] for r in rows]
    series = {s: [r["cpu_s"][s] for r in rows] for s in STEPS}
    result = {
        "benchmark": "LATTICE's item-item graph vs BM3's projection as the number of items grows "
                     "(CPU seconds per step, 1 thread)",
        "settings": {"dims": DIMS, "knn_k": 10, "projected_dim": 64, "repeats": args.repeats,
                     "features": "synthetic Gaussian (cost does not depend on the values)"},
        "torch_threads": args.torch_threads,
        "rows": rows,
        "slopes": {s: log_log_slope(sizes, v) for s, v in series.items()},
        "slopes_top3": {s: log_log_slope(sizes[-3:], v[-3:]) for s, v in series.items()},
        "expected_slopes": {"lattice_raw_graph": 2, "lattice_learned_graph": 2, "bm3_projection": 1},
        "timing_note": "CPU seconds (time.process_time) at 1 thread, median of the repeats",
    }
    print(result["slopes"], result["slopes_top3"])
    records.save(records.benchmark_record(result, records.dataset_entry(
        "synthetic", "Gaussian item features with Amazon Baby's widths", sizes={"n_items": sizes})),
        args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
