"""The user-item bipartite graph and LightGCN's linear propagation.

With the training matrix ``R`` (``U x I``, binary) the bipartite adjacency and its symmetric
normalisation are::

    A = [[0, R], [R^T, 0]]            ((U + I) x (U + I))
    Â = D^{-1/2} A D^{-1/2},          D = diag(A 1),   Â_uv = 1 / sqrt(d_u d_v) for each edge

Isolated nodes (degree 0) get ``D^{-1/2} = 0`` (MMRec adds ``1e-7`` to the degree instead; either
way their rows and columns of ``Â`` are empty). Propagation is ``H^{l+1} = Â H^l``
(:func:`propagate`), and LightGCN's readout (:func:`lightgcn_readout`) is the mean over layers::

    H^0 = [E_U; E_I],     H^{l+1} = Â H^l,     H = (1 / (L + 1)) sum_{l=0..L} H^l = [H_U; H_I]

LightGCN, BM3 and FREEDOM all read their user-item graph out this way; LATTICE reads out its
row-normalised ``P = D^{-1}(A + I)`` (:func:`random_walk_adjacency_scipy`) the same way.
Item-item kNN graphs from features (FREEDOM's, LATTICE's) start from :func:`knn_neighbours`.

Speed: models keep ``Â`` as a CSR tensor and propagate with ``symmetric=True``, which goes
through :class:`SymmetricSpMM`: since ``Â^T = Â`` the backward pass is one more CSR product
instead of a transpose. A constant non-symmetric ``S`` (FREEDOM's item-item graph) passes its
transpose (``adj_t``) for the backward pass (:class:`ConstantSpMM`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F


def bipartite_adjacency(train: sp.spmatrix) -> sp.csr_matrix:
    """``A = [[0, R], [R^T, 0]]`` (float32 CSR) from the binary ``U x I`` training matrix ``R``."""
    r = sp.csr_matrix(train, dtype=np.float32)
    r.data[:] = 1.0
    r.sum_duplicates()
    return sp.bmat([[None, r], [r.T, None]], format="csr", dtype=np.float32)


def symmetric_normalize(adj: sp.spmatrix) -> sp.csr_matrix:
    """``D^{-1/2} A D^{-1/2}`` with ``D`` = the row sums of ``A`` on both sides (float32 CSR,
    sorted indices); rows with sum 0 stay empty. For a symmetric ``A`` the row sums are the
    degrees; FREEDOM's reference uses row sums for its (non-symmetric) kNN graph too."""
    a = sp.csr_matrix(adj, dtype=np.float32)
    degree = np.asarray(a.sum(axis=1), dtype=np.float64).ravel()
    inv_sqrt = np.zeros_like(degree)
    nonzero = degree > 0
    inv_sqrt[nonzero] = degree[nonzero] ** -0.5
    scale = sp.diags(inv_sqrt)
    norm = (scale @ a @ scale).astype(np.float32).tocsr()
    norm.sort_indices()
    return norm


def normalized_adjacency_scipy(train: sp.spmatrix) -> sp.csr_matrix:
    """``Â = D^{-1/2} A D^{-1/2}`` as a scipy CSR matrix (float32, sorted indices)."""
    return symmetric_normalize(bipartite_adjacency(train))


def random_walk_adjacency_scipy(train: sp.spmatrix, self_loops: bool = True) -> sp.csr_matrix:
    """``P = D^{-1} (A + I)`` (``self_loops``) or ``D^{-1} A`` of the bipartite graph (float32 CSR).

    ``D`` = the row sums of ``A + I`` (resp. ``A``); rows with sum 0 stay empty. Row-stochastic and
    **not** symmetric (``P^T ≠ P``): LATTICE's user–item graph in MMRec (``get_adj_mat``).
    """
    a = bipartite_adjacency(train)
    if self_loops:
        a = (a + sp.eye(a.shape[0], dtype=np.float32, format="csr")).tocsr()
    rowsum = np.asarray(a.sum(axis=1), dtype=np.float64).ravel()
    inv = np.zeros_like(rowsum)
    inv[rowsum > 0] = 1.0 / rowsum[rowsum > 0]
    out = (sp.diags(inv) @ a).astype(np.float32).tocsr()
    out.sort_indices()
    return out


def knn_neighbours(
    x: torch.Tensor, k: int, chunk: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values, indices)``, both ``n x k``: for each row of ``x`` its ``k`` largest cosine
    similarities ``cos(x_i, x_j) = x_i·x_j / (‖x_i‖ ‖x_j‖)`` (itself included) and their columns.

    Computed without gradients in chunks of ``chunk`` rows (memory ``O(chunk * n)``); ties are
    broken by ``torch.topk``. Rows of norm 0 have cosine 0 with everything.
    """
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}] for {n} items, got {k}")
    with torch.no_grad():
        xn = F.normalize(x.detach(), dim=1)
        vals, cols = [], []
        for start in range(0, n, chunk):
            top = torch.topk(xn[start : start + chunk] @ xn.T, k, dim=1)
            vals.append(top.values)
            cols.append(top.indices)
    return torch.cat(vals), torch.cat(cols)


def knn_graph(features: np.ndarray, k: int, chunk: int = 1024) -> sp.csr_matrix:
    """Binary ``n x n`` graph linking each row to its ``k`` most cosine-similar rows (itself
    included; :func:`knn_neighbours`). FREEDOM's frozen item–item graph before normalisation."""
    x = torch.from_numpy(np.asarray(features, dtype=np.float32))
    n = x.shape[0]
    col = knn_neighbours(x, k, chunk)[1].cpu().numpy().ravel()
    row = np.repeat(np.arange(n), k)
    graph = sp.csr_matrix((np.ones(len(row), dtype=np.float32), (row, col)), shape=(n, n))
    graph.sum_duplicates()
    graph.data[:] = 1.0
    return graph


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


class SymmetricSpMM(torch.autograd.Function):
    """``y = Â x`` for a constant symmetric sparse ``Â``; backward ``dx = Â dy``."""

    @staticmethod
    def forward(ctx: Any, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.adj = adj
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, torch.sparse.mm(ctx.adj, grad.contiguous())


class ConstantSpMM(torch.autograd.Function):
    """``y = S x`` for a constant sparse ``S`` (not symmetric); backward ``dx = Sᵀ dy``."""

    @staticmethod
    def forward(ctx: Any, adj: torch.Tensor, adj_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.adj_t = adj_t
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, None, torch.Tensor]:
        return None, None, torch.sparse.mm(ctx.adj_t, grad.contiguous())


def propagate(
    adj: torch.Tensor,
    x: torch.Tensor,
    n_layers: int,
    *,
    symmetric: bool = False,
    adj_t: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """Layer outputs ``[H^0, H^1, ..., H^L]`` of ``H^{l+1} = Â H^l`` with ``H^0 = x``.

    Differentiable with respect to ``x``; ``adj`` is a constant. The forward products are the
    same ``torch.sparse.mm`` in every case; the backward pass is

    * ``symmetric=True``: ``dx = Â dy`` (:class:`SymmetricSpMM`; only valid when ``Â^T = Â``,
      e.g. the normalised bipartite adjacency);
    * ``adj_t`` given: ``dx = adj_t dy`` (:class:`ConstantSpMM`, ``adj_t`` = ``Â^T``);
    * otherwise: autograd's own backward of ``torch.sparse.mm``.
    """
    if n_layers < 0:
        raise ValueError(f"n_layers must be >= 0, got {n_layers}")
    if symmetric and adj_t is not None:
        raise ValueError("pass either symmetric=True or adj_t, not both")
    layers = [x]
    for _ in range(n_layers):
        if symmetric:
            layers.append(SymmetricSpMM.apply(adj, layers[-1]))
        elif adj_t is not None:
            layers.append(ConstantSpMM.apply(adj, adj_t, layers[-1]))
        else:
            layers.append(torch.sparse.mm(adj, layers[-1]))
    return layers


def symmetric_propagate(adj: torch.Tensor, x: torch.Tensor, n_layers: int) -> list[torch.Tensor]:
    """``propagate(adj, x, n_layers, symmetric=True)``: ``Â`` symmetric (:class:`SymmetricSpMM`)."""
    return propagate(adj, x, n_layers, symmetric=True)


def layer_mean(layers: list[torch.Tensor]) -> torch.Tensor:
    """``(1 / (L + 1)) sum_l H^l``: the same values as ``torch.stack(layers).mean(0)`` (summed in
    layer order, then divided), without materialising the ``(L + 1) x N x d`` stack in the
    forward pass or expanding the gradient over it in the backward pass."""
    total = layers[0]
    for h in layers[1:]:
        total = total + h
    return total / len(layers)


def lightgcn_readout(
    adj: torch.Tensor,
    user_emb: torch.Tensor,
    item_emb: torch.Tensor,
    n_layers: int,
    *,
    symmetric: bool = True,
    adj_t: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """LightGCN's mean readout on the bipartite graph, split into ``(H_U, H_I)``::

        H^0 = [E_U; E_I],     H^{l+1} = Â H^l,     H = (1 / (L + 1)) sum_{l=0..L} H^l

    ``adj`` is ``Â`` (``(U + I) x (U + I)``, users first, e.g. :func:`normalized_adjacency`),
    ``user_emb`` is ``E_U`` (``U x d``) and ``item_emb`` is ``E_I`` (``I x d``). ``symmetric``
    (default) uses ``Â^T = Â`` for the backward pass (see :func:`propagate`); pass ``False`` for
    autograd's own backward. A non-symmetric ``adj`` (LATTICE's ``D^{-1}(A + I)``) passes its
    transpose as ``adj_t`` (then ``symmetric`` is ignored).
    """
    ego = torch.cat([user_emb, item_emb], dim=0)
    if adj_t is not None:
        layers = propagate(adj, ego, n_layers, adj_t=adj_t)
    else:
        layers = propagate(adj, ego, n_layers, symmetric=symmetric)
    final = layer_mean(layers)
    n_users = user_emb.shape[0]
    return final[:n_users], final[n_users:]


def mean_pairwise_cosine(x: torch.Tensor, n_pairs: int = 20_000, seed: int = 0) -> float:
    """Mean cosine similarity of ``n_pairs`` random distinct row pairs of ``x``.

    ``cos(a, b) = a·b / (‖a‖ ‖b‖)``; rows of norm 0 count as similarity 0. A value that rises
    towards 1 as layers are added is the signature of *over-smoothing*.
    """
    gen = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    a = torch.randint(0, n, (n_pairs,), generator=gen)
    b = (a + torch.randint(1, n, (n_pairs,), generator=gen)) % n  # b != a
    xa, xb = x[a.to(x.device)], x[b.to(x.device)]  # pairs drawn on the CPU: the same everywhere
    denom = xa.norm(dim=1) * xb.norm(dim=1)
    cos = torch.where(denom > 0, (xa * xb).sum(dim=1) / denom.clamp_min(1e-12), torch.zeros_like(denom))
    return float(cos.mean())


def smoothing_curve(
    adj: torch.Tensor, x: torch.Tensor, max_layers: int, n_pairs: int = 20_000, seed: int = 0
) -> list[dict[str, float]]:
    """For ``L = 0..max_layers``: mean pairwise cosine of ``H^L`` and of the readout ``mean(H^0..H^L)``."""
    with torch.no_grad():
        layers = propagate(adj, x, max_layers)
        rows = []
        for depth in range(max_layers + 1):
            readout = torch.stack(layers[: depth + 1]).mean(dim=0)
            rows.append(
                {
                    "layers": depth,
                    "cosine of H^L": mean_pairwise_cosine(layers[depth], n_pairs, seed),
                    "cosine of mean readout": mean_pairwise_cosine(readout, n_pairs, seed),
                }
            )
    return rows


def bipartite_edge_index(train: sp.spmatrix, both_directions: bool = True) -> torch.Tensor:
    """PyG-style ``edge_index`` (``2 x E``, int64, users first, item ``i`` is node ``U + i``) of
    the training matrix: ``[[u ...], [U + i ...]]`` for each edge in row-major order, then (if
    ``both_directions``) the same edges reversed, ``[[U + i ...], [u ...]]`` — MMRec's
    ``torch.cat((edge_index, edge_index[[1, 0]]), dim=1)`` in MMGCN, GRCN and DualGNN."""
    r = sp.csr_matrix(train)
    r.sum_duplicates()
    coo = r.tocoo()
    users = torch.from_numpy(coo.row.astype(np.int64))
    items = torch.from_numpy(coo.col.astype(np.int64)) + r.shape[0]
    one_way = torch.stack([users, items])
    return torch.cat([one_way, one_way.flip(0)], dim=1) if both_directions else one_way

