"""Statistics of an interaction matrix: size, sparsity, degrees, concentration, cold starts.

Definitions (``R`` is the binary user x item matrix, ``d_i`` an item's degree):

* sparsity = 1 - nnz(R) / (|U| |I|)
* Gini of degrees ``x`` sorted ascending, ``n`` values:
  ``G = sum_k (2k - n - 1) x_k / (n sum_k x_k)`` (k = 1..n); 0 = all equal, -> 1 = one holds all.
* top-20 % share = interactions on the 20 % most popular items / all interactions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .interactions import SPLITS, InteractionData


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (see module docstring)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    if x.size == 0 or x.sum() == 0:
        return 0.0
    if (x < 0).any():
        raise ValueError("gini() needs non-negative values")
    n = x.size
    k = np.arange(1, n + 1)
    return float(((2 * k - n - 1) * x).sum() / (n * x.sum()))


def top_share(degrees: np.ndarray, fraction: float = 0.2) -> float:
    """Share of all interactions that fall on the top ``fraction`` of entities by degree."""
    d = np.sort(np.asarray(degrees, dtype=np.float64))[::-1]
    if d.sum() == 0:
        return 0.0
    top = max(1, int(round(fraction * d.size)))
    return float(d[:top].sum() / d.sum())


def degrees(matrix: sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    """``(user_degrees, item_degrees)`` of a user x item matrix."""
    m = sp.csr_matrix(matrix)
    return np.asarray(m.getnnz(axis=1)), np.asarray(m.getnnz(axis=0))


def interaction_stats(data: InteractionData) -> dict[str, float]:
    """Size, sparsity, degree summaries and concentration over all splits of ``data``."""
    full = data.train + data.valid + data.test
    user_deg, item_deg = degrees(full)
    return {
        "users": data.n_users,
        "items": data.n_items,
        "interactions": data.n_interactions,
        "sparsity_%": 100 * data.sparsity,
        "user_degree_mean": float(user_deg.mean()),
        "user_degree_median": float(np.median(user_deg)),
        "user_degree_max": int(user_deg.max()),
        "item_degree_mean": float(item_deg.mean()),
        "item_degree_median": float(np.median(item_deg)),
        "item_degree_max": int(item_deg.max()),
        "gini_items": gini(item_deg),
        "gini_users": gini(user_deg),
        "top20_item_share_%": 100 * top_share(item_deg, 0.2),
    }


def stats_table(datasets: list[InteractionData]) -> pd.DataFrame:
    """:func:`interaction_stats` of several datasets as a table, one row per dataset."""
    return pd.DataFrame([interaction_stats(d) for d in datasets], index=[d.name for d in datasets])


def cold_start_counts(data: InteractionData) -> pd.DataFrame:
    """One row per split: users/items present in it, and how many are cold or rare in *train*.

    An item (user) is *cold* when it has no training interaction; *rare* when it has at most
    ``RARE`` (5) training interactions. ``test_interactions_on_rare_items_%`` is the share of the
    split's interactions whose item is rare in training.
    """
    train_user_deg, train_item_deg = degrees(data.train)
    rows = {}
    for split in SPLITS:
        users, items = data.pairs(split)
        present_items = np.unique(items)
        present_users = np.unique(users)
        rows[split] = {
            "interactions": len(items),
            "users": len(present_users),
            "items": len(present_items),
            "cold_users": int((train_user_deg[present_users] == 0).sum()),
            "cold_items": int((train_item_deg[present_items] == 0).sum()),
            "rare_items": int((train_item_deg[present_items] <= RARE).sum()),
            "interactions_on_rare_items_%": 100 * float((train_item_deg[items] <= RARE).mean()),
        }
    return pd.DataFrame(rows).T


RARE = 5
"""An item with at most this many training interactions counts as rare."""


def degree_ccdf(deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Complementary CDF of a degree sequence: ``(d, P(D >= d))`` over the distinct degrees."""
    values, counts = np.unique(np.asarray(deg), return_counts=True)
    tail = counts[::-1].cumsum()[::-1] / counts.sum()
    return values, tail


def lorenz_curve(deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lorenz curve of item popularity: share of items (most popular first) vs share of interactions."""
    d = np.sort(np.asarray(deg, dtype=np.float64))[::-1]
    x = np.arange(0, d.size + 1) / d.size
    y = np.concatenate([[0.0], d.cumsum() / d.sum()])
    return x, y


def train_degree_of_split_items(data: InteractionData, split: str = "test") -> np.ndarray:
    """For each interaction of ``split``, the training degree of its item (0 = cold item)."""
    _, train_item_deg = degrees(data.train)
    _, items = data.pairs(split)
    return train_item_deg[items]
