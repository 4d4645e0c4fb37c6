"""Scaling of the matching pipeline: kNN (k = 51) + 3 neighbourhood-blending stages.

    python benchmarks/bench_matching.py --sizes 10000 30000 100000 1000000

Data: synthetic "listings" in 384-d (MiniLM's size): random group centres (unit normal), 2–4
listings per group = centre + Gaussian noise (σ = 0.5 per dimension before normalisation), rows
L2-normalised (true partners have cosine ≈ 0.8, unrelated listings ≈ 0 ± 0.05). Purely random
vectors have no neighbourhood structure; the planted groups make the recall of **true partners**
measurable — the number that matters for matching. (Recall of the exact 50 nearest listings is
also reported, on a sample, but beyond the 1–3 partners those are random listings at cosine
≈ 0.1 that no threshold would accept.)

Indexes (``mmrs.matching.knn``): faiss exact ``IndexFlatIP``; ``IndexIVFFlat`` (nlist = 4√n,
nprobe 8); ``IndexHNSWFlat`` (M 32, efSearch 128). Two ways to run the stages:

* ``search`` — the Shopee pipeline as written: a new kNN search (index rebuilt, since the vectors
  moved) after every blend: 4 searches.
* ``rerank`` — one search, then after every blend the first search's 51 candidates of each
  listing are re-scored with the blended vectors (``rerank_candidates``): 1 search + 3 cheap
  O(n k d) passes. It cannot find partners the first search missed.

What runs (:func:`plan`): exact search is O(n² d); above ``--exact-max`` it is timed on a sample
of queries and extrapolated linearly (``extrapolated: true``), its recall measured on that
sample. ``search`` (4 index builds) runs up to ``--search-max`` for IVF and up to
``--exact-max`` for HNSW, whose builds are the slowest; HNSW is not run above ``--hnsw-max``.
The goal in the issue: the whole pipeline for 100k listings in under 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import faiss
import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from mmrs import records
from mmrs.matching import l2_normalize, neighbourhood_blend
from mmrs.matching.blend import blend_weights
from mmrs.matching.knn import Neighbours, approximate_knn, partner_recall, rerank_candidates

DIM, K, STAGES, THRESHOLD, SIGMA = 384, 51, 3, 0.5, 0.5


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(x, group)``: n unit rows in groups of 2–4 around random centres (module docstring)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 5, size=n // 2)
    groups = np.repeat(np.arange(len(sizes)), sizes)[:n]
    x = rng.standard_normal((len(sizes), DIM), dtype=np.float32)[groups]
    for start in range(0, n, 100_000):  # add noise in blocks to bound the peak memory
        rows = slice(start, min(start + 100_000, n))
        x[rows] += SIGMA * rng.standard_normal((x[rows].shape[0], DIM), dtype=np.float32)
    return l2_normalize(x), groups


def exact_search(x: np.ndarray, queries: np.ndarray | None = None) -> Neighbours:
    index = faiss.IndexFlatIP(DIM)
    index.add(x)
    sim, idx = index.search(x if queries is None else x[queries], K)
    return Neighbours(idx.astype(np.int64), sim)


def search(x: np.ndarray, kind: str) -> Neighbours:
    return exact_search(x) if kind == "exact" else approximate_knn(x, K, kind=kind)


def plan(n: int, kind: str, strategy: str, exact_max: int, search_max: int, hnsw_max: int) -> str:
    """``"run"``, ``"extrapolate"`` (exact search timed on a sample) or ``"skip"``."""
    if kind == "exact":
        if n <= exact_max:
            return "run"
        return "extrapolate" if strategy == "search" else "skip"
    if kind == "hnsw" and n > hnsw_max:
        return "skip"
    if strategy == "search" and n > (exact_max if kind == "hnsw" else search_max):
        return "skip"
    return "run"


def run_pipeline(x: np.ndarray, kind: str, strategy: str) -> dict:
    """Time search → (blend → search | rerank) × 3; the first and the final neighbour lists."""
    times: dict[str, list[float]] = {"search": [], "blend": [], "rerank": []}
    tic = time.perf_counter()
    nb = search(x, kind)
    times["search"].append(time.perf_counter() - tic)
    first = nb
    for _ in range(STAGES):
        tic = time.perf_counter()
        x = neighbourhood_blend(x, blend_weights(nb, THRESHOLD))
        times["blend"].append(time.perf_counter() - tic)
        tic = time.perf_counter()
        if strategy == "search":
            nb = search(x, kind)
            times["search"].append(time.perf_counter() - tic)
        else:
            nb = rerank_candidates(x, first)
            times["rerank"].append(time.perf_counter() - tic)
    seconds = sum(sum(v) for v in times.values())
    return {"seconds": seconds, "times": times, "first": first, "final": nb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000, 1_000_000])
    parser.add_argument("--kinds", nargs="+", default=["exact", "ivf", "hnsw"])
    parser.add_argument("--exact-max", type=int, default=30_000)
    parser.add_argument("--search-max", type=int, default=100_000)
    parser.add_argument("--hnsw-max", type=int, default=100_000)
    parser.add_argument("--recall-sample", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=None, help="faiss and BLAS threads (default: all cores)")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "matching_scaling.json"
    )
    args = parser.parse_args()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
        threadpool_limits(args.threads)
    rows = []
    jobs = [(n, kind, strategy) for n in args.sizes for kind in args.kinds for strategy in ("search", "rerank")]
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    jobs = [j for j in jobs if plan(*j, args.exact_max, args.search_max, args.hnsw_max) != "skip"]
    for n, kind, strategy in tqdm(jobs, desc="benchmark"):
        if n not in cache:
            cache.clear()
            cache[n] = synthetic(n)
        x, groups = cache[n]
        sample = np.random.default_rng(1).choice(n, size=min(args.recall_sample, n), replace=False)
        row = {"n": n, "index": kind, "strategy": strategy}
        if plan(n, kind, strategy, args.exact_max, args.search_max, args.hnsw_max) == "extrapolate":
            q = np.random.default_rng(2).choice(n, size=max(1000, n // 100), replace=False)
            tic = time.perf_counter()
            nb = exact_search(x, q)
            per_search = (time.perf_counter() - tic) * n / len(q)
            row.update(
                seconds=round(per_search * (STAGES + 1), 2),
                search_seconds=[round(per_search, 2)] * (STAGES + 1),
                extrapolated=True,
                first_partner_recall=round(partner_recall(nb, groups, q), 4),
                note=f"exact search timed on {len(q):,} queries and scaled to n; blends not included",
            )
        else:
            out = run_pipeline(x, kind, strategy)
            row.update(
                seconds=round(out["seconds"], 2),
                search_seconds=[round(s, 2) for s in out["times"]["search"]],
                blend_seconds=[round(s, 3) for s in out["times"]["blend"]],
                rerank_seconds=[round(s, 3) for s in out["times"]["rerank"]],
                extrapolated=False,
                first_partner_recall=round(partner_recall(out["first"], groups), 4),
                final_partner_recall=round(partner_recall(out["final"], groups), 4),
            )
            if kind != "exact":
                truth = exact_search(x, sample[:2000])
                hits = [
                    len(set(out["first"].index[q].tolist()) & set(truth.index[r].tolist())) / K
                    for r, q in enumerate(sample[:2000])
                ]
                row["first_recall_at_51_vs_exact"] = round(float(np.mean(hits)), 4)
        rows.append(row)
        tqdm.write(json.dumps(row))
    record = {
        "benchmark": "kNN (k=51) + 3 blending stages, 384-d synthetic listings in groups of 2-4",
        "faiss": faiss.__version__,
        "threads": faiss.omp_get_max_threads(),
        "cpu_count": os.cpu_count(),
        "command": "python benchmarks/bench_matching.py --sizes "
        + " ".join(map(str, args.sizes))
        + " --kinds "
        + " ".join(args.kinds)
        + f" --exact-max {args.exact_max} --search-max {args.search_max} --hnsw-max {args.hnsw_max}"
        + (f" --threads {args.threads}" if args.threads else ""),
        "results": rows,
    }
    records.save(records.benchmark_record(record, "synthetic listings", command=record["command"]),
                 args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
