"""Simulated marketplace listings of real fashion products (the Shopee data is not available).

From the real "Fashion Product Images (Small)" catalogue we draw ``n_products`` products that
have a photo and a title, and give each 2–4 listings (uniformly drawn); every listing is the
product's real photo and title passed through the seeded perturbations of
:mod:`~mmrs.matching.perturb`. The true groups are the products.

Hard negatives come from the catalogue itself: many *different* products share exactly the
same ``productDisplayName`` (e.g. several "Puma Men Black T-shirt" ids with different photos).
A share ``hard_share`` of the products is drawn from such same-title clusters (whole clusters,
up to 4 products each), so text alone cannot tell them apart; the rest are drawn uniformly from
the other products. Listing ``c`` of product ``p`` uses ``rng = default_rng([seed, p, c])``
for its title and image, so any listing is regenerated identically on demand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from PIL import Image

from ..data.fashion import FashionCatalogue
from .perturb import perturb_image, perturb_title

VERSION = "v1"
"""Bumped whenever the perturbations change, so cached features are not reused."""
LISTINGS_PER_PRODUCT = (2, 4)
HARD_CLUSTER_MAX = 4


def fashion_products(profile_name: str) -> int:
    """Products in the fashion listings set (image extraction ≈ 3 listings/product):
    ``Profile.matching_products`` of profile ``profile_name``."""
    from ..config import profile

    return int(profile(profile_name).matching_products)


@dataclass(eq=False)
class FashionListings:
    """Listings table plus lazy, deterministic perturbed photos.

    ``listings`` columns: ``listing_id`` (0..n-1), ``product_id``, ``copy`` (0..), ``group_id``
    (= product id), ``title`` (perturbed), ``original_title``, ``title_edits``,
    ``articleType``, ``hard_negative`` (product shares its title with another product in the
    set). :meth:`perturbed` also returns the drawn image perturbation.
    """

    catalogue: FashionCatalogue
    listings: pd.DataFrame
    seed: int

    def __len__(self) -> int:
        return len(self.listings)

    @property
    def name(self) -> str:
        """A cache-safe name identifying the set (seed, size and perturbation version)."""
        return f"fashion-listings-{VERSION}-s{self.seed}-n{len(self)}"

    def keys(self) -> list[str]:
        """``"<product id>:<copy>"`` of every listing (the cache key of its photo)."""
        return [
            f"{p}:{c}"
            for p, c in zip(self.listings["product_id"], self.listings["copy"], strict=True)
        ]

    def perturbed(self, listing_id: int) -> tuple[Image.Image, dict]:
        """The perturbed photo of one listing and its drawn parameters (from its seed)."""
        row = self.listings.iloc[int(listing_id)]
        rng = np.random.default_rng([self.seed, int(row["product_id"]), int(row["copy"]), 1])
        return perturb_image(self.catalogue.image(int(row["product_id"])), rng)

    def image(self, listing_id: int) -> Image.Image:
        """The perturbed photo of one listing (regenerated from its seed)."""
        return self.perturbed(listing_id)[0]

    def images(self, listing_ids: Sequence[int] | None = None) -> _LazyImages:
        """A lazy sequence of perturbed photos (decoded when indexed)."""
        ids = range(len(self)) if listing_ids is None else list(listing_ids)
        return _LazyImages(self, list(ids))


class _LazyImages(Sequence):
    def __init__(self, owner: FashionListings, ids: list[int]) -> None:
        self._owner, self._ids = owner, ids

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, k):  # type: ignore[override]
        if isinstance(k, slice):
            return _LazyImages(self._owner, self._ids[k])
        return self._owner.image(self._ids[k])


def _draw_products(
    products: pd.DataFrame, n: int, hard_share: float, rng: np.random.Generator
) -> list[int]:
    eligible = products[products["has_image"] & (products["title"] != "")]
    if n > len(eligible):
        raise ValueError(
            f"asked for {n} products but only {len(eligible)} have a photo and a title"
        )
    sizes = eligible.groupby("title")["title"].transform("size")
    clusters = [list(ids) for _, ids in eligible[sizes > 1].groupby("title").groups.items()]
    chosen: list[int] = []
    n_hard = int(round(hard_share * n))
    for c in rng.permutation(len(clusters)):
        if len(chosen) >= n_hard:
            break
        members = sorted(int(i) for i in clusters[c])
        take = min(len(members), HARD_CLUSTER_MAX, n_hard - len(chosen))
        if take >= 2:
            chosen += [members[i] for i in sorted(rng.choice(len(members), take, replace=False))]
    rest = np.array(sorted(set(eligible.index[sizes == 1].astype(int))), dtype=np.int64)
    chosen += rng.choice(rest, n - len(chosen), replace=False).tolist()
    return sorted(int(i) for i in chosen)


def build_fashion_listings(
    catalogue: FashionCatalogue,
    n_products: int,
    seed: int = 0,
    hard_share: float = 0.3,
    listings_per_product: tuple[int, int] = LISTINGS_PER_PRODUCT,
) -> FashionListings:
    """Draw products and their perturbed listings (see the module docstring)."""
    if n_products < 2:
        raise ValueError("need at least 2 products")
    if not 0.0 <= hard_share <= 1.0:
        raise ValueError(f"hard_share must be in [0, 1], got {hard_share}")
    lo, hi = listings_per_product
    if not 1 <= lo <= hi:
        raise ValueError(
            f"listings_per_product must satisfy 1 <= low <= high, got {listings_per_product}"
        )
    rng = np.random.default_rng(seed)
    products = catalogue.products
    ids = _draw_products(products, n_products, hard_share, rng)
    counts = rng.integers(lo, hi + 1, size=len(ids))
    title_count = products.loc[ids, "title"].value_counts()
    rows = []
    for pid, count in zip(ids, counts, strict=True):
        title = products.at[pid, "title"]
        for copy in range(int(count)):
            t_rng = np.random.default_rng([seed, pid, copy, 0])
            new_title, edits = perturb_title(title, t_rng)
            rows.append(
                {
                    "product_id": pid,
                    "copy": copy,
                    "group_id": pid,
                    "title": new_title,
                    "original_title": title,
                    "title_edits": ",".join(edits),
                    "articleType": products.at[pid, "articleType"],
                    "hard_negative": bool(title_count[title] > 1),
                }
            )
    listings = pd.DataFrame(rows)
    listings.insert(0, "listing_id", np.arange(len(listings), dtype=np.int64))
    return FashionListings(catalogue=catalogue, listings=listings, seed=seed)
