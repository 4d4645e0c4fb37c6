"""Which products, which split, and their locked-tower features.

* :func:`stratified_sample` draws ``n`` products with a title and a photo, allocated to
  articleTypes in proportion to their size (largest-remainder rounding), seeded.
* :func:`split_products` cuts the drawn products into train / validation / test, stratified by
  articleType, so that no product is in two splits.
* :func:`product_features` returns the 1280-d EfficientNet-Lite0 photo features and the 384-d
  MiniLM title features, through the atomic on-disk cache of :mod:`mmrs.features.cache`.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ..features.cache import cached_features
from ..features.image import IMAGE_ENCODER, image_embeddings
from ..features.text import TEXT_ENCODER, text_embeddings

DATASET_KEY = "fashion-products"


def eligible(products: pd.DataFrame) -> pd.DataFrame:
    """Products usable as (title, photo) pairs: a non-empty title and a photo."""
    keep = products["has_image"].astype(bool) & (products["title"].str.strip() != "")
    return products[keep]


def stratified_sample(products: pd.DataFrame, n: int, seed: int, by: str = "articleType") -> np.ndarray:
    """Ids of ``n`` eligible products, ``n_c ≈ n · N_c / N`` per class ``c`` of column ``by``.

    ``n_c`` is the floor of the proportional share plus one for the classes with the largest
    remainders (so Σ n_c = n); classes whose share rounds to 0 are left out. Ids are returned
    sorted. ``n`` at least the number of eligible products returns all of them.
    """
    pool = eligible(products)
    if n >= len(pool):
        return np.sort(pool.index.to_numpy())
    counts = pool[by].value_counts().sort_index()
    share = counts.to_numpy() * n / counts.sum()
    alloc = np.floor(share).astype(int)
    order = np.argsort(-(share - alloc), kind="stable")
    alloc[order[: n - alloc.sum()]] += 1
    rng = np.random.default_rng(seed)
    chosen = []
    for label, k in zip(counts.index, alloc, strict=True):
        if k:
            ids = np.sort(pool.index[pool[by] == label].to_numpy())
            chosen.append(rng.choice(ids, size=k, replace=False))
    return np.sort(np.concatenate(chosen))


def split_products(
    products: pd.DataFrame,
    ids: np.ndarray,
    seed: int,
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
    by: str = "articleType",
) -> dict[str, np.ndarray]:
    """Disjoint ``{"train", "valid", "test"}`` id arrays covering ``ids``, stratified by ``by``.

    Within each class the ids are shuffled (seeded) and cut at ``round(f · n_c)``; a class with
    one product goes to train. Every id lands in exactly one split.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-9 or min(fractions) < 0:
        raise ValueError(f"fractions must be 3 non-negative numbers summing to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    labels = products.loc[ids, by].to_numpy()
    out: dict[str, list] = {"train": [], "valid": [], "test": []}
    for label in np.unique(labels):
        members = rng.permutation(np.sort(np.asarray(ids)[labels == label]))
        n_test = int(round(fractions[2] * len(members))) if len(members) > 1 else 0
        n_valid = int(round(fractions[1] * len(members))) if len(members) > 2 else 0
        out["test"].append(members[:n_test])
        out["valid"].append(members[n_test : n_test + n_valid])
        out["train"].append(members[n_test + n_valid :])
    return {k: np.sort(np.concatenate(v)).astype(np.int64) for k, v in out.items()}


def product_features(
    catalogue, ids: np.ndarray, progress: bool = True, device: str | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """``(image [n, 1280], text [n, 384], seconds)`` for ``ids`` (rows in the order of ``ids``).

    Cached under ``(encoder, "fashion-products", ids)`` whatever the ``device`` the encoders ran
    on (default :func:`mmrs.config.device_name`); ``seconds`` holds the wall time of each step
    (near 0 on a cache hit).
    """
    ids = [int(i) for i in ids]
    titles = catalogue.products.loc[ids, "title"].tolist()
    timings = {}
    t0 = time.perf_counter()
    image = cached_features(
        IMAGE_ENCODER, DATASET_KEY, ids,
        lambda chunk: image_embeddings(
            [catalogue.image(i) for i in chunk], progress=progress, device=device
        ),
        chunk_size=500, progress=progress,
    )
    timings["image_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    lookup = dict(zip(ids, titles, strict=True))
    text = cached_features(
        TEXT_ENCODER, DATASET_KEY, ids,
        lambda chunk: text_embeddings([lookup[i] for i in chunk], progress=progress, device=device),
        progress=progress,
    )
    timings["text_s"] = time.perf_counter() - t0
    return image.astype(np.float32), text.astype(np.float32), timings
