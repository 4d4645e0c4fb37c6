"""Speed of Chapter 6's retrieval: photo-feature throughput and per-query latency, flat vs cascade.

    python benchmarks/bench_retrieval.py [--images 128] [--galleries 1000 10000 44446] \
        [--out benchmarks/results/retrieval.json]

1. **Image features.** EfficientNet-Lite0 (224×224, batch 64, ``torch`` at one thread) on the
   first ``--images`` catalogue photos, no cache: images/s, and the projected time for the whole
   44,446-product catalogue. Needs ``MMRS_DATA``.
2. **Query latency.** Synthetic galleries of unit photo features (1280-d) spread over 143
   categories with Zipf-like sizes (as articleTypes are); randomly initialised heads and router
   (latency does not depend on the weights; the random router picks arbitrary, often small,
   categories, so the candidate counts are not those of a trained router). For each gallery size, median µs per query of
   ``flat`` (all items), ``flat | predicted`` and ``cascade | predicted`` (one category, with its
   own heads for the 30 largest categories), one query at a time; ratios to flat in one run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from mmrs import records
from mmrs.hierarchical import CategoryRouter, Level, query_latency
from mmrs.retrieval import LockedTowers

N_CATEGORIES, N_HEADS, CATALOGUE = 143, 30, 44446


def image_throughput(n: int) -> dict:
    from mmrs.data import load_fashion
    from mmrs.features.image import image_embeddings, load_image_model

    catalogue = load_fashion()
    ids = catalogue.products.index[catalogue.products["has_image"]][:n].tolist()
    load_image_model()
    images = [catalogue.image(i) for i in ids]
    t0 = time.perf_counter()
    image_embeddings(images, progress=False)
    seconds = time.perf_counter() - t0
    rate = n / seconds
    return {"images": n, "seconds": seconds, "images_per_s": rate,
            "projected_catalogue_minutes": CATALOGUE / rate / 60}


def latency(n: int, seed: int = 0, queries: int = 200) -> dict:
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, N_CATEGORIES + 1)
    codes = rng.choice(N_CATEGORIES, size=n, p=weights / weights.sum())
    image = rng.normal(size=(n, 1280)).astype(np.float32)
    text = rng.normal(size=(queries, 384)).astype(np.float32)
    torch.manual_seed(seed)
    flat = LockedTowers().eval()
    heads = {c: flat.copy() for c in range(N_HEADS)}
    level = Level("synthetic", codes, [str(c) for c in range(N_CATEGORIES)],
                  CategoryRouter(384, N_CATEGORIES).eval(), heads)
    return query_latency(flat, level, text, image, k=20, n_queries=queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--galleries", type=int, nargs="+", default=[1000, 10000, CATALOGUE])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/retrieval.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    result = {
        "image_features": image_throughput(args.images),
        "query_latency": {str(n): latency(n) for n in args.galleries},
    }
    records.save(records.benchmark_record(result, "fashion-small"), args.out)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
