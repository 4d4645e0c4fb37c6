"""Plausible wrong answers to assignment 3; each must lose points on its question.

``WRONG_ANSWERS[question][description]`` replaces that question's answer cell in the reference
notebook (``assignments/build.py --check`` and ``tests/test_assignments.py`` grade the result).
"""

_ADJACENCY = '''
def normalized_adjacency(R):
    r = (sp.csr_matrix(R).toarray() > 0).astype(np.float64)
    n_users, n_items = r.shape
    a = np.zeros((n_users + n_items, n_users + n_items))
    a[:n_users, n_users:] = r
    a[n_users:, :n_users] = r.T
    degree = a.sum(axis=1)
'''

WRONG_ANSWERS = {
    "q1_normalisation": {
        "without the square roots: D^-1 A D^-1": _ADJACENCY + '''
    inv = np.zeros_like(degree)
    inv[degree > 0] = 1.0 / degree[degree > 0]
    return inv[:, None] * a * inv[None, :]
''',
        "row normalisation D^-1 A (not symmetric)": _ADJACENCY + '''
    inv = np.zeros_like(degree)
    inv[degree > 0] = 1.0 / degree[degree > 0]
    return inv[:, None] * a
''',
        "isolated nodes give nan (degree 0 not guarded)": _ADJACENCY + '''
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_sqrt = degree ** -0.5
        return inv_sqrt[:, None] * a * inv_sqrt[None, :]
''',
        "repeated interactions counted as weights": '''
def normalized_adjacency(R):
    r = sp.csr_matrix(R).toarray().astype(np.float64)
    n_users, n_items = r.shape
    a = np.zeros((n_users + n_items, n_users + n_items))
    a[:n_users, n_users:] = r
    a[n_users:, :n_users] = r.T
    degree = a.sum(axis=1)
    inv_sqrt = np.zeros_like(degree)
    inv_sqrt[degree > 0] = degree[degree > 0] ** -0.5
    return inv_sqrt[:, None] * a * inv_sqrt[None, :]
''',
    },
    "q2_readout": {
        "returns the last layer H^L instead of the mean": '''
def lightgcn_readout(adj, user_emb, item_emb, n_layers):
    h = torch.cat([user_emb, item_emb], dim=0)
    for _ in range(n_layers):
        h = torch.sparse.mm(adj, h)
    return h[: user_emb.shape[0]], h[user_emb.shape[0]:]
''',
        "sums the layers instead of averaging": '''
def lightgcn_readout(adj, user_emb, item_emb, n_layers):
    h = torch.cat([user_emb, item_emb], dim=0)
    total = h
    for _ in range(n_layers):
        h = torch.sparse.mm(adj, h)
        total = total + h
    return total[: user_emb.shape[0]], total[user_emb.shape[0]:]
''',
        "averages layers 1..L only (drops the ego layer H^0)": '''
def lightgcn_readout(adj, user_emb, item_emb, n_layers):
    h = torch.cat([user_emb, item_emb], dim=0)
    layers = []
    for _ in range(n_layers):
        h = torch.sparse.mm(adj, h)
        layers.append(h)
    final = torch.stack(layers, dim=0).mean(dim=0) if layers else h
    return final[: user_emb.shape[0]], final[user_emb.shape[0]:]
''',
        "detaches the embeddings (no gradient reaches them)": '''
def lightgcn_readout(adj, user_emb, item_emb, n_layers):
    h = torch.cat([user_emb, item_emb], dim=0).detach()
    layers = [h]
    for _ in range(n_layers):
        h = torch.sparse.mm(adj, h)
        layers.append(h)
    final = torch.stack(layers, dim=0).mean(dim=0)
    return final[: user_emb.shape[0]], final[user_emb.shape[0]:]
''',
    },
}
