"""A small deterministic synthetic interaction generator, for fast unit tests only.

Never presented as real data. Items get Zipf-like popularity ``p_i ∝ (i + 1)^(-alpha)``; each
user draws ``5 + Poisson(extra)`` distinct items from it, so every user has at least 5
interactions; the split follows MMRec's rule with the given seed.
"""

from __future__ import annotations

import numpy as np

from .interactions import InteractionData, from_labelled_pairs, mmrec_split_labels


def synthetic_pairs(
    n_users: int = 200, n_items: int = 120, extra: float = 5.0, alpha: float = 0.8, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``(users, items)`` arrays of distinct synthetic interactions (see module docstring)."""
    if n_items < 15:
        raise ValueError("n_items must be at least 15 so that users can draw distinct items")
    rng = np.random.default_rng(seed)
    popularity = (np.arange(n_items) + 1.0) ** (-alpha)
    popularity /= popularity.sum()
    users, items = [], []
    for u in range(n_users):
        k = min(n_items // 2, 5 + int(rng.poisson(extra)))
        chosen = rng.choice(n_items, size=k, replace=False, p=popularity)
        users.append(np.full(k, u))
        items.append(chosen)
    return np.concatenate(users).astype(np.int64), np.concatenate(items).astype(np.int64)


def synthetic_interactions(
    n_users: int = 200, n_items: int = 120, extra: float = 5.0, alpha: float = 0.8, seed: int = 0
) -> InteractionData:
    """A synthetic :class:`InteractionData` named ``"synthetic"`` (unit tests only)."""
    users, items = synthetic_pairs(n_users, n_items, extra, alpha, seed)
    labels = mmrec_split_labels(users, seed)
    return from_labelled_pairs(
        users, items, labels, n_users, n_items, "synthetic", f"MMRec rule, seed {seed}"
    )
