"""Per-query cost of flat vs cascaded retrieval, one query at a time (as a search box sees it).

Gallery embeddings are precomputed (flat: one matrix ``U``; cascade: one ``U_c`` per category
under its stage-2 heads). Per query we time: embed the title (shared or category head), the
dot products with the admitted candidates, and a top-K selection; the cascade adds the router.
The queries are encoded on the device of ``flat`` (the router and heads must be on the same one);
the dot products and top-K run in NumPy on the CPU.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..devices import module_device
from .cascade import embed


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    k = min(k, len(scores))
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part])]


def query_latency(flat, level, q_text: np.ndarray, g_image: np.ndarray, k: int = 20,
                  n_queries: int = 200, repeats: int = 3) -> dict[str, dict[str, float]]:
    """Median µs per query and mean candidates scored: ``flat``, ``flat | predicted``, ``cascade``."""
    q = torch.from_numpy(np.asarray(q_text[:n_queries], np.float32)).to(module_device(flat))
    u_flat = embed(flat, image=g_image)
    by_cat = {int(c): np.flatnonzero(level.codes == c) for c in np.unique(level.codes)}
    u_shared = {c: u_flat[i] for c, i in by_cat.items()}
    u_head = {c: embed(level.heads.get(c, flat), image=g_image[i]) for c, i in by_cat.items()}

    def flat_q(x):
        w = flat.encode_text(x)[0].cpu().numpy()
        return _top(u_flat @ w, k), len(u_flat)

    def routed(x, spec: bool):
        c = int(level.router(x).argmax())
        model = level.heads.get(c, flat) if spec else flat
        gallery = (u_head if spec else u_shared).get(c, u_flat[:0])
        w = model.encode_text(x)[0].cpu().numpy()
        return (_top(gallery @ w, k) if len(gallery) else gallery), len(gallery)

    runs = {"flat": flat_q, "flat | predicted": lambda x: routed(x, False),
            "cascade | predicted": lambda x: routed(x, True)}
    out = {}
    with torch.no_grad():
        for name, fn in runs.items():
            times, cands = [], []
            for _ in range(repeats):
                for i in range(len(q)):
                    t0 = time.perf_counter()
                    _, n = fn(q[i : i + 1])
                    times.append(time.perf_counter() - t0)
                    cands.append(n)
            out[name] = {"median_us": 1e6 * float(np.median(times)), "candidates": float(np.mean(cands))}
    for name in out:
        out[name]["ratio_to_flat"] = out[name]["median_us"] / out["flat"]["median_us"]
    return out
