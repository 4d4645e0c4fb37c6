"""The user-item bipartite graph and LightGCN's linear propagation.

With the training matrix ``R`` (``U x I``, binary) the bipartite adjacency and its symmetric
normalisation are::

    A = [[0, R], [R^T, 0]]            ((U + I) x (U + I))
    Â = D^{-1/2} A D^{-1/2},          D = diag(A 1),   Â_uv = 1 / sqrt(d_u d_v) for each edge

Isolated nodes (degree 0) get ``D^{-1/2} = 0`` (MMRec adds ``1e-7`` to the degree instead; either
way their rows and columns of ``Â`` are empty). Propagation is ``H^{l+1} = Â H^l``.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch


def bipartite_adjacency(train: sp.spmatrix) -> sp.csr_matrix:
    """``A = [[0, R], [R^T, 0]]`` (float32 CSR) from the binary ``U x I`` training matrix ``R``."""
    r = sp.csr_matrix(train, dtype=np.float32)
    r.data[:] = 1.0
    r.sum_duplicates()
    return sp.bmat([[None, r], [r.T, None]], format="csr", dtype=np.float32)


def normalized_adjacency_scipy(train: sp.spmatrix) -> sp.csr_matrix:
    """``Â = D^{-1/2} A D^{-1/2}`` as a scipy CSR matrix (float32, sorted indices)."""
    adj = bipartite_adjacency(train)
    degree = np.asarray(adj.sum(axis=1), dtype=np.float64).ravel()
    inv_sqrt = np.zeros_like(degree)
    nonzero = degree > 0
    inv_sqrt[nonzero] = degree[nonzero] ** -0.5
    scale = sp.diags(inv_sqrt)
    norm = (scale @ adj @ scale).astype(np.float32).tocsr()
    norm.sort_indices()
    return norm


def to_torch_sparse(matrix: sp.spmatrix, layout: str = "csr") -> torch.Tensor:
    """A scipy sparse matrix as a torch sparse tensor (``layout`` ``"csr"`` or ``"coo"``)."""
    if layout == "csr":
        csr = sp.csr_matrix(matrix)
        csr.sort_indices()
        with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state"
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(
                torch.from_numpy(csr.indptr.astype(np.int64)),
                torch.from_numpy(csr.indices.astype(np.int64)),
                torch.from_numpy(csr.data.astype(np.float32)),
                size=csr.shape,
                check_invariants=True,
            )
    if layout == "coo":
        coo = sp.coo_matrix(matrix)
        index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
        values = torch.from_numpy(coo.data.astype(np.float32))
        return torch.sparse_coo_tensor(
            index, values, size=coo.shape, check_invariants=True
        ).coalesce()
    raise ValueError(f"layout must be 'csr' or 'coo', got {layout!r}")


def normalized_adjacency(train: sp.spmatrix, layout: str = "csr") -> torch.Tensor:
    """``Â = D^{-1/2} A D^{-1/2}`` of the bipartite graph as a torch sparse tensor.

    Nodes ``0..U-1`` are users, ``U..U+I-1`` items. ``layout="csr"`` (default) is the faster one
    for ``torch.sparse.mm`` on CPU; ``"coo"`` gives a coalesced COO tensor.
    """
    return to_torch_sparse(normalized_adjacency_scipy(train), layout)


def propagate(adj: torch.Tensor, x: torch.Tensor, n_layers: int) -> list[torch.Tensor]:
    """Layer outputs ``[H^0, H^1, ..., H^L]`` of ``H^{l+1} = Â H^l`` with ``H^0 = x``.

    Differentiable with respect to ``x`` (``torch.sparse.mm``); ``adj`` is a constant.
    """
    if n_layers < 0:
        raise ValueError(f"n_layers must be >= 0, got {n_layers}")
    layers = [x]
    for _ in range(n_layers):
        layers.append(torch.sparse.mm(adj, layers[-1]))
    return layers
