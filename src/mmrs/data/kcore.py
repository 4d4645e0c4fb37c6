"""k-core filtering of a bipartite interaction graph.

The k-core keeps the largest sub-graph in which every user and every item has at least ``k``
interactions. It is found by repeatedly deleting users and items of degree < k until none is
left (deleting a user lowers its items' degrees, so one pass is not enough).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class KCoreResult:
    """Which interactions survive, and how many rounds the peeling took."""

    keep: np.ndarray
    """Boolean mask over the input interactions."""
    rounds: int


def k_core(users: np.ndarray, items: np.ndarray, k: int, max_rounds: int = 1000) -> KCoreResult:
    """Mask of the interactions in the ``k``-core (users and items both of degree >= ``k``)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    keep = np.ones(len(users), dtype=bool)
    for rounds in range(1, max_rounds + 1):
        user_deg = np.bincount(users[keep], minlength=users.max(initial=-1) + 1)
        item_deg = np.bincount(items[keep], minlength=items.max(initial=-1) + 1)
        ok = keep & (user_deg[users] >= k) & (item_deg[items] >= k)
        if (ok == keep).all():
            return KCoreResult(keep=keep, rounds=rounds)
        keep = ok
    raise RuntimeError(f"k-core did not converge in {max_rounds} rounds")


def reindex(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map ids to 0..n-1 in increasing order; returns ``(new_ids, old_id_of_new)``."""
    uniques, new = np.unique(ids, return_inverse=True)
    return new.astype(np.int64), uniques


def kcore_sweep(users: np.ndarray, items: np.ndarray, ks: list[int]) -> pd.DataFrame:
    """What the ``k``-core keeps for each ``k``: users, items, interactions, sparsity, rounds.

    ``kept_%`` is the share of the input interactions that survive.
    """
    rows = []
    for k in ks:
        result = k_core(users, items, k)
        u, i = users[result.keep], items[result.keep]
        n_u, n_i, n = len(np.unique(u)), len(np.unique(i)), int(result.keep.sum())
        rows.append(
            {
                "k": k,
                "users": n_u,
                "items": n_i,
                "interactions": n,
                "sparsity_%": 100 * (1 - n / (n_u * n_i)) if n else float("nan"),
                "kept_%": 100 * n / len(users),
                "rounds": result.rounds,
            }
        )
    return pd.DataFrame(rows).set_index("k")
