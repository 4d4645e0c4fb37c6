"""Normalised bipartite adjacency, propagation (vs PyG) and LightGCN's loss by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mmrs.data.synthetic import synthetic_interactions
from mmrs.graph import normalized_adjacency, normalized_adjacency_scipy, propagate
from mmrs.models import LightGCN
from mmrs.models.lightgcn import symmetric_propagate

# Tiny graph: 2 users, 4 items; item 3 has no training interaction (isolated node).
#   R = [[1, 1, 0, 0],
#        [0, 1, 1, 0]]
# degrees: u0 = 2, u1 = 2, i0 = 1, i1 = 2, i2 = 1, i3 = 0
# Â_ui = 1 / sqrt(d_u d_i):  (u0,i0) = 1/√2, (u0,i1) = 1/2, (u1,i1) = 1/2, (u1,i2) = 1/√2
R = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0]], dtype=np.float32))
S2 = 1 / math.sqrt(2)


def test_tiny_adjacency_by_hand():
    dense = normalized_adjacency(R).to_dense().numpy()
    expected = np.zeros((6, 6))
    for (u, i), v in {(0, 0): S2, (0, 1): 0.5, (1, 1): 0.5, (1, 2): S2}.items():
        expected[u, 2 + i] = expected[2 + i, u] = v
    np.testing.assert_allclose(dense, expected, atol=1e-7)
    # row sums: u0 = u1 = 1/√2 + 1/2, i0 = 1/√2, i1 = 1/2 + 1/2 = 1, i2 = 1/√2, i3 = 0
    np.testing.assert_allclose(dense.sum(axis=1), [S2 + 0.5, S2 + 0.5, S2, 1.0, S2, 0.0], atol=1e-7)
    # Â sqrt(d) = D^{-1/2} A 1 = D^{-1/2} d = sqrt(d): eigenvalue 1 for eigenvector sqrt(degree)
    sqrt_d = np.sqrt([2, 2, 1, 2, 1, 0])
    np.testing.assert_allclose(dense @ sqrt_d, sqrt_d, atol=1e-6)
    # coo and csr layouts agree
    np.testing.assert_allclose(normalized_adjacency(R, "coo").to_dense().numpy(), dense)


def test_eigenvalues_within_unit_interval_and_bipartite_symmetry():
    data = synthetic_interactions(40, 30, seed=2)
    dense = normalized_adjacency_scipy(data.train).toarray().astype(np.float64)
    np.testing.assert_allclose(dense, dense.T)
    eig = np.linalg.eigvalsh(dense)
    assert eig.min() >= -1 - 1e-6 and eig.max() <= 1 + 1e-6
    assert eig.max() == pytest.approx(1.0, abs=1e-6)
    assert eig.min() == pytest.approx(-1.0, abs=1e-6)  # bipartite: spectrum symmetric about 0
    np.testing.assert_allclose(np.sort(eig), np.sort(-eig), atol=1e-6)


def _edge_index(train: sp.spmatrix) -> torch.Tensor:
    coo = sp.coo_matrix(train)
    users = torch.from_numpy(coo.row.astype(np.int64))
    items = torch.from_numpy(coo.col.astype(np.int64)) + train.shape[0]
    return torch.stack([torch.cat([users, items]), torch.cat([items, users])])


def test_propagation_equals_pyg_lgconv():
    nn_geo = pytest.importorskip("torch_geometric.nn")
    data = synthetic_interactions(50, 35, seed=4)
    n = data.n_users + data.n_items
    x = torch.randn(n, 8, generator=torch.Generator().manual_seed(0))
    ours = propagate(normalized_adjacency(data.train), x, 3)
    conv = nn_geo.LGConv()  # default normalize=True: gcn_norm without self loops
    edge_index = _edge_index(data.train)
    h = x
    for layer in range(1, 4):
        h = conv(h, edge_index)
        torch.testing.assert_close(ours[layer], h, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours[0], x)
    # The whole LightGCN readout equals PyG's LightGCN model (alpha = 1 / (L + 1)).
    model = LightGCN(data.train, embedding_dim=8, n_layers=3)
    pyg = nn_geo.models.LightGCN(n, embedding_dim=8, num_layers=3)
    with torch.no_grad():
        pyg.embedding.weight.copy_(torch.cat([model.user_embedding, model.item_embedding]))
        h_users, h_items = model()
        final = pyg.get_embedding(edge_index)
        torch.testing.assert_close(torch.cat([h_users, h_items]), final, rtol=1e-5, atol=1e-6)


def test_symmetric_spmm_gradient_equals_dense():
    data = synthetic_interactions(20, 25, seed=5)
    adj = normalized_adjacency(data.train)
    dense = adj.to_dense()
    x = torch.randn(adj.shape[0], 4, requires_grad=True)
    weights = torch.randn(adj.shape[0], 4)
    (torch.stack(symmetric_propagate(adj, x, 2)).mean(0) * weights).sum().backward()
    grad_ours = x.grad.clone()
    x.grad = None
    (torch.stack([x, dense @ x, dense @ (dense @ x)]).mean(0) * weights).sum().backward()
    torch.testing.assert_close(grad_ours, x.grad, rtol=1e-5, atol=1e-6)


def _tiny_lightgcn(squared: bool) -> LightGCN:
    model = LightGCN(R[:, :3], embedding_dim=2, n_layers=1, reg_weight=0.1, squared_reg=squared)
    with torch.no_grad():
        model.user_embedding.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        model.item_embedding.copy_(torch.tensor([[1.0, 1.0], [0.0, 2.0], [1.0, 0.0]]))
    return model


@pytest.mark.parametrize("squared", [False, True])
def test_lightgcn_loss_by_hand(squared):
    # Graph R[:, :3] (items 0..2), one layer, ego embeddings
    #   e_u0 = (1, 0), e_u1 = (0, 1), e_i0 = (1, 1), e_i1 = (0, 2), e_i2 = (1, 0).
    # Layer 1 (Â entries above):
    #   u0: e_i0/√2 + e_i1/2 = (1/√2, 1/√2 + 1)      u1: e_i1/2 + e_i2/√2 = (1/√2, 1)
    #   i0: e_u0/√2 = (1/√2, 0)   i1: (e_u0 + e_u1)/2 = (1/2, 1/2)   i2: e_u1/√2 = (0, 1/√2)
    # Mean readout h = (e + layer1) / 2:
    #   h_u0 = (c, c) with c = (1 + 1/√2)/2;   h_u1 = (1/(2√2), 1)
    #   h_i0 = (c, 1/2);  h_i1 = (1/4, 5/4);  h_i2 = (1/2, 1/(2√2))
    # Triples (u0, i1, i2) and (u1, i2, i0):
    #   s = h_u0·h_i1 = 1.5 c,  h_u0·h_i2 = c (1/2 + 1/(2√2))
    #   s = h_u1·h_i2 = 1/(4√2) + 1/(2√2),   h_u1·h_i0 = c/(2√2) + 1/2
    # Regulariser on ego rows, B = 2 (Frobenius norms of the B x d batch matrices):
    #   ||[e_u0; e_u1]|| = √2, ||[e_i1; e_i2]|| = √5, ||[e_i2; e_i0]|| = √3
    #   MMRec (not squared): (√2 + √5 + √3)/2;  squared: (2 + 5 + 3)/2 = 5
    c = (1 + S2) / 2
    r = 1 / (2 * math.sqrt(2))
    diffs = [1.5 * c - c * (0.5 + r), (0.5 * r + r) - (c * r + 0.5)]
    bpr = sum(-math.log(1 / (1 + math.exp(-d))) for d in diffs) / 2
    reg = 5.0 if squared else (math.sqrt(2) + math.sqrt(5) + math.sqrt(3)) / 2
    expected = bpr + 0.1 * reg
    model = _tiny_lightgcn(squared)
    users, pos, neg = torch.tensor([0, 1]), torch.tensor([1, 2]), torch.tensor([2, 0])
    loss = model.calculate_loss(users, pos, neg)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # evaluation scores use the same propagated embeddings
    model.eval()
    scores = model.score_users(torch.tensor([0]))
    assert scores[0, 1].item() == pytest.approx(1.5 * c, rel=1e-6)


def test_lightgcn_gradient_reaches_all_connected_ego_embeddings():
    data = synthetic_interactions(30, 20, seed=6)
    model = LightGCN(data.train, embedding_dim=4, n_layers=2)
    model.calculate_loss(torch.tensor([0]), torch.tensor([0]), torch.tensor([1])).backward()
    # with two layers, the 2-hop neighbourhood of the batch nodes gets gradient, others none
    assert model.user_embedding.grad is not None and model.item_embedding.grad is not None
    assert model.user_embedding.grad[0].abs().sum() > 0
    cached = model.eval()
    cached.prepare_eval()
    assert cached.eval_cache()[0].shape == (data.n_users, 4)
    model.train()
    assert model._cache is None
