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


APPROXIMATE_KINDS = ("ivf", "hnsw")


def approximate_knn(
    x: np.ndarray,
    k: int = DEFAULT_K,
    kind: str = "hnsw",
    nprobe: int = 8,
    hnsw_m: int = 32,
    ef_search: int = 128,
    train_points_per_list: int = 64,
    train_iterations: int = 10,
    seed: int = 0,
) -> Neighbours:
    """Approximate kNN by inner product with a faiss index (dense float32 rows).

    ``"ivf"``: ``IndexIVFFlat`` with ``nlist = 4 √n`` inverted lists (k-means, seeded, trained on
    a sample of at most ``train_points_per_list · nlist`` rows, ``train_iterations`` Lloyd
    iterations) and ``nprobe`` lists scanned per
    query. ``"hnsw"``: ``IndexHNSWFlat`` with ``hnsw_m``
    links per node and search breadth ``ef_search`` (at least ``k``). Both return at most ``k``
    results per row; faiss pads missing ones with index ``-1`` (similarity ``-inf`` here).
    """
    import faiss

    if kind not in APPROXIMATE_KINDS:
        raise ValueError(f"unknown approximate index {kind!r}; choose one of {APPROXIMATE_KINDS}")
    dense = np.ascontiguousarray(x, dtype=np.float32)
    n, dim = dense.shape
    k = _check_k(k, n)
    if kind == "ivf":
        nlist = max(1, min(int(4 * np.sqrt(n)), n // 39 or 1))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        index.cp.max_points_per_centroid = train_points_per_list
        index.cp.niter = train_iterations
        index.train(dense)
        index.nprobe = min(nprobe, nlist)
    else:
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = max(ef_search, k)
    index.add(dense)
    sim, idx = index.search(dense, k)
    sim = np.where(idx < 0, -np.inf, sim).astype(np.float32)
    return Neighbours(idx.astype(np.int64), sim)


def rerank_candidates(x: np.ndarray, candidates: Neighbours, chunk: int = 1024) -> Neighbours:
    """Re-score a fixed candidate list with new embeddings and sort it: ``s_ij = x_i · x_j``.

    After a blending stage the embeddings move, but mostly *within* the neighbourhoods the first
    search found; instead of a new search over all n listings (what the Shopee pipeline does),
    each listing's k old candidates are re-scored — O(n k d) instead of O(n² d) for exact search.
    It can only reorder and drop candidates, never find new ones; `benchmarks/bench_matching.py`
    measures what that costs in recall of true partners. Padding (index ``-1``) stays last.
    """
    dense = np.asarray(x, dtype=np.float32)
    idx = candidates.index
    out_idx = np.empty_like(idx)
    out_sim = np.empty(idx.shape, dtype=np.float32)
    for start in range(0, idx.shape[0], chunk):
        rows = slice(start, min(start + chunk, idx.shape[0]))
        cand = idx[rows]
        # (rows, k, d) @ (rows, d, 1): a batched matrix product, ~3x faster than einsum here
        sim = np.matmul(dense[np.maximum(cand, 0)], dense[rows][:, :, None])[:, :, 0]
        sim = np.where(cand < 0, -np.inf, sim).astype(np.float32)
        order = np.lexsort((cand, -sim), axis=1)
        out_idx[rows] = np.take_along_axis(cand, order, axis=1)
        out_sim[rows] = np.take_along_axis(sim, order, axis=1)
    return Neighbours(out_idx, out_sim)


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


def partner_recall(nb: Neighbours, groups: np.ndarray, rows: np.ndarray | None = None) -> float:
    """Share of (listing, true partner) pairs whose partner is in the listing's neighbour list.

    ``nb.index[r]`` is the list of listing ``rows[r]`` (``rows`` default: all, in order);
    ``groups[i]`` is listing i's true group. Listings without partners add nothing.
    """
    rows = np.arange(nb.n) if rows is None else np.asarray(rows)
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    found = total = 0
    for r, q in enumerate(rows.tolist()):
        lo, hi = np.searchsorted(sorted_groups, groups[q]), np.searchsorted(sorted_groups, groups[q], "right")
        partners = set(order[lo:hi].tolist()) - {q}
        found += len(partners.intersection(nb.index[r].tolist()))
        total += len(partners)
    if total == 0:
        raise ValueError("no listing in rows has a partner: partner recall is undefined")
    return found / total
