"""Scaling of the matching pipeline: kNN (k = 51) + 3 neighbourhood-blending stages.

    python benchmarks/bench_matching.py [--sizes 10000 30000 100000] [--out benchmarks/results/matching_scaling.json]

Data: synthetic "listings" in 384-d (MiniLM's size): random group centres (unit normal), 2–4
listings per group = centre + Gaussian noise (σ = 0.5 per dimension before normalisation), rows
L2-normalised. Purely random vectors have no neighbourhood structure, so the clusters make the
recall and the blending realistic; the timings do not depend on it.

For each size n: the full pipeline (search → threshold → blend, three times, then a final
search) with faiss exact ``IndexFlatIP`` and with an approximate ``IndexIVFFlat``
(nlist = 4√n, nprobe = 8, rebuilt after every blend since the vectors move). Exact search is
O(n² d); when it would take too long (n > ``--exact-max``) it is timed on a sample of queries
and extrapolated linearly in the number of queries (flagged ``exact_extrapolated``).
recall@50 = share of each query's exact 50 nearest other listings that the approximate index
also returns, on up to 2,000 sampled queries of the first search.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import faiss
import numpy as np

from mmrs.matching import l2_normalize, neighbourhood_blend
from mmrs.matching.blend import blend_weights
from mmrs.matching.knn import Neighbours

DIM, K, STAGES, THRESHOLD = 384, 51, 3, 0.5


def synthetic(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 5, size=n // 2)
    groups = np.repeat(np.arange(len(sizes)), sizes)[:n]
    centres = rng.standard_normal((len(sizes), DIM), dtype=np.float32)
    x = centres[groups] + 0.5 * rng.standard_normal((n, DIM), dtype=np.float32)
    return l2_normalize(x)


def search(
    x: np.ndarray, kind: str, queries: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    tic = time.perf_counter()
    if kind == "exact":
        index = faiss.IndexFlatIP(DIM)
    else:
        nlist = int(4 * np.sqrt(len(x)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(x)
        index.nprobe = 8
    index.add(x)
    q = x if queries is None else x[queries]
    sim, idx = index.search(q, K)
    return idx, sim, time.perf_counter() - tic


def pipeline(x: np.ndarray, kind: str) -> dict:
    times, first = [], None
    for stage in range(STAGES + 1):
        idx, sim, seconds = search(x, kind)
        times.append(seconds)
        first = first if first is not None else idx
        if stage < STAGES:
            tic = time.perf_counter()
            w = blend_weights(Neighbours(idx.astype(np.int64), sim), THRESHOLD)
            x = neighbourhood_blend(x, w)
            times.append(time.perf_counter() - tic)
    return {
        "seconds": sum(times),
        "search_seconds": times[0::2],
        "blend_seconds": times[1::2],
        "first": first,
    }


def recall_at_50(x: np.ndarray, approx: np.ndarray, sample: np.ndarray) -> float:
    exact, _, _ = search(x, "exact", sample)
    hits = []
    for row, q in enumerate(sample):
        truth = [j for j in exact[row] if j != q][:50]
        found = set(approx[q].tolist())
        hits.append(len(found.intersection(truth)) / len(truth))
    return float(np.mean(hits))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--exact-max", type=int, default=30_000)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "matching_scaling.json"
    )
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        x = synthetic(n)
        approx = pipeline(x, "ivf")
        sample = np.random.default_rng(1).choice(n, size=min(2000, n), replace=False)
        row = {
            "n": n,
            "ivf_pipeline_seconds": round(approx["seconds"], 2),
            "ivf_search_seconds": [round(s, 2) for s in approx["search_seconds"]],
            "blend_seconds": [round(s, 3) for s in approx["blend_seconds"]],
            "ivf_recall_at_50": round(recall_at_50(x, approx["first"], sample), 4),
        }
        if n <= args.exact_max:
            exact = pipeline(x, "exact")
            row.update(exact_pipeline_seconds=round(exact["seconds"], 2), exact_extrapolated=False)
        else:
            q = np.random.default_rng(2).choice(n, size=n // 10, replace=False)
            _, _, seconds = search(x, "exact", q)
            per_search = seconds * 10
            blend = sum(approx["blend_seconds"])
            row.update(
                exact_pipeline_seconds=round(per_search * (STAGES + 1) + blend, 2),
                exact_extrapolated=True,
            )
        rows.append(row)
        print(json.dumps(row))
    record = {
        "benchmark": "kNN (k=51) + 3 blending stages, 384-d synthetic clustered vectors",
        "faiss": faiss.__version__,
        "threads": faiss.omp_get_max_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "results": rows,
        "note": "1M vectors not run: exact search is O(n^2 d) (≈100× the 100k time) and 1.5 GB per copy; "
        "see the curve for the trend.",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
