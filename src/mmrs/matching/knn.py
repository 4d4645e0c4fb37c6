"""k-nearest-neighbour search by inner product (cosine similarity on unit vectors).

For each listing i the k listings j with the largest ``s_ij = ⟨x_i, x_j⟩`` (i itself included,
usually first), sorted by decreasing similarity. Two backends:

* ``faiss``: exact ``IndexFlatIP`` on the dense concatenation (fast BLAS, the winners' tool);
* ``brute``: chunked ``X[rows] Xᵀ`` summed over blocks, then a partial sort — works for
  sparse TF-IDF blocks too and is the reference that ``faiss`` is tested against.

``k`` defaults to 51 (the listing itself plus at most 50 matches, the metric's cap) and is
capped at the number of listings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from .embeddings import Embedding, blocks, n_rows

DEFAULT_K = 51
BACKENDS = ("auto", "faiss", "brute")


@dataclass(frozen=True)
class Neighbours:
    """kNN result: ``index[i, r]`` is the r-th nearest listing of i, ``sim[i, r]`` its similarity."""

    index: np.ndarray
    sim: np.ndarray

    def __post_init__(self) -> None:
        if self.index.shape != self.sim.shape or self.index.ndim != 2:
            raise ValueError(f"index {self.index.shape} and sim {self.sim.shape} must be equal 2-d")

    @property
    def n(self) -> int:
        return self.index.shape[0]

    @property
    def k(self) -> int:
        return self.index.shape[1]


def similarity_rows(x: Embedding, rows: np.ndarray) -> np.ndarray:
    """Dense ``S[rows] = Σ_b X_b[rows] X_bᵀ``, shape ``(len(rows), n)``, float32."""
    rows = np.asarray(rows)
    out = np.zeros((len(rows), n_rows(x)), dtype=np.float32)
    for part in blocks(x):
        if sp.issparse(part):
            out += (part[rows] @ part.T).toarray()
        else:
            out += part[rows] @ part.T
    return out


def _top_k(sim: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k columns of each row by decreasing value (ties: smaller column first)."""
    if k < sim.shape[1]:
        cand = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    else:
        cand = np.broadcast_to(np.arange(sim.shape[1]), sim.shape).copy()
    vals = np.take_along_axis(sim, cand, axis=1)
    order = np.lexsort((cand, -vals), axis=1)
    return np.take_along_axis(cand, order, axis=1), np.take_along_axis(vals, order, axis=1)


def brute_force_knn(
    x: Embedding, k: int = DEFAULT_K, chunk: int = 1024, progress: bool = False
) -> Neighbours:
    """Exact kNN by computing similarities chunk by chunk (dense or sparse blocks)."""
    n = n_rows(x)
    k = _check_k(k, n)
    index = np.empty((n, k), dtype=np.int64)
    sim = np.empty((n, k), dtype=np.float32)
    for start in tqdm(range(0, n, chunk), desc="kNN (brute)", disable=not progress):
        rows = np.arange(start, min(start + chunk, n))
        index[rows], sim[rows] = _top_k(similarity_rows(x, rows), k)
    return Neighbours(index, sim)


def faiss_knn(x: Embedding, k: int = DEFAULT_K) -> Neighbours:
    """Exact kNN with faiss ``IndexFlatIP`` (dense blocks only)."""
    import faiss

    parts = blocks(x)
    if any(sp.issparse(p) for p in parts):
        raise TypeError(
            "faiss needs dense embeddings; use backend='brute' for sparse TF-IDF blocks"
        )
    dense = np.ascontiguousarray(np.hstack(parts), dtype=np.float32)
    k = _check_k(k, dense.shape[0])
    index = faiss.IndexFlatIP(dense.shape[1])
    index.add(dense)
    sim, idx = index.search(dense, k)
    return Neighbours(idx.astype(np.int64), sim.astype(np.float32))


def knn(x: Embedding, k: int = DEFAULT_K, backend: str = "auto") -> Neighbours:
    """Nearest neighbours by inner product; ``auto`` uses faiss for dense input, else brute force."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    if backend == "auto":
        dense = not any(sp.issparse(p) for p in blocks(x))
        backend = "faiss" if dense and _has_faiss() else "brute"
    return faiss_knn(x, k) if backend == "faiss" else brute_force_knn(x, k)


def _has_faiss() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        return False
    return True


def _check_k(k: int, n: int) -> int:
    if n < 1:
        raise ValueError("kNN needs at least one listing")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return min(int(k), n)
