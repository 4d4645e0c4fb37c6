"""Uniform negative sampling for pairwise (BPR) training, vectorised.

For each training pair ``(u, i)`` a negative ``j`` is drawn uniformly from the items ``u`` has not
interacted with in training, ``j ~ Uniform(I \\ I_u^train)``: draw ``j`` uniformly from all items,
reject it if ``(u, j)`` is a training pair, redraw the rejected ones, repeat until none is left.
Rejection is exact (each accepted draw is uniform over the allowed set) and vectorised: every
training pair is encoded as the integer key ``u * n_items + j`` and candidates are looked up with a
binary search in the sorted key array.

Candidate items: MMRec draws from the items that occur in the training split (its
``all_items``), not from every item id; ``train_items_only=True`` (the trainer's setting) does the
same. The two differ only for items without a training interaction (one of amazon-baby's 7,050
items under the seed-2023 split).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class NegativeSampler:
    """Draws negatives ``j ∉ I_u^train`` uniformly, seeded by a :class:`numpy.random.Generator`.

    ``train_items_only``: draw from the items with at least one training interaction (MMRec)
    instead of all ``n_items`` ids.
    """

    def __init__(
        self,
        train: sp.spmatrix,
        rng: np.random.Generator | int | None = None,
        train_items_only: bool = False,
    ) -> None:
        csr = sp.csr_matrix(train)
        csr.sum_duplicates()
        csr.sort_indices()
        self.n_users, self.n_items = csr.shape
        counts = np.diff(csr.indptr)
        if train_items_only:
            self.candidates = np.unique(csr.indices).astype(np.int64)
        else:
            self.candidates = np.arange(self.n_items, dtype=np.int64)
        if (counts >= len(self.candidates)).any():
            user = int(np.flatnonzero(counts >= len(self.candidates))[0])
            raise ValueError(
                f"user {user} interacted with every candidate item; no negative exists"
            )
        rows = np.repeat(np.arange(self.n_users, dtype=np.int64), counts)
        self._keys = rows * self.n_items + csr.indices.astype(np.int64)  # sorted (CSR order)
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)

    def is_positive(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Boolean array: is ``(users[t], items[t])`` a training interaction?"""
        query = np.asarray(users, np.int64) * self.n_items + np.asarray(items, np.int64)
        pos = np.searchsorted(self._keys, query)
        pos = np.minimum(pos, max(len(self._keys) - 1, 0))
        if len(self._keys) == 0:
            return np.zeros(query.shape, dtype=bool)
        return self._keys[pos] == query

    def sample(self, users: np.ndarray) -> np.ndarray:
        """One uniform negative item (int64) per entry of ``users``."""
        users = np.asarray(users, dtype=np.int64)
        n = len(self.candidates)
        negatives = self.candidates[self.rng.integers(0, n, size=users.shape, dtype=np.int64)]
        todo = np.flatnonzero(self.is_positive(users, negatives))
        while len(todo):
            negatives[todo] = self.candidates[
                self.rng.integers(0, n, size=len(todo), dtype=np.int64)
            ]
            todo = todo[self.is_positive(users[todo], negatives[todo])]
        return negatives
