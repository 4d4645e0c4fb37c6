"""Plausible wrong answers to assignment 5; each must lose points on its question.

``WRONG_ANSWERS[question][description]`` replaces that question's answer cell in the reference
notebook (``assignments/build.py --check`` and ``tests/test_assignments.py`` grade the result).
"""

_KNN = '''
def freedom_item_graph(text, image, k, image_weight):
    def knn(features, normalise=True, include_self=True):
        x = np.asarray(features, dtype=np.float64)
        if normalise:
            x = x / np.linalg.norm(x, axis=1, keepdims=True)
        sim = x @ x.T
        if not include_self:
            np.fill_diagonal(sim, -np.inf)
        top = np.argsort(-sim, axis=1, kind="stable")[:, :k]
        a = np.zeros_like(sim)
        np.put_along_axis(a, top, 1.0, axis=1)
        return a
'''

WRONG_ANSWERS = {
    "q1_vbpr_score": {
        "image features before text (not MMRec's order)": '''
def vbpr_scores(P, gamma, W, b, text, image):
    q = torch.cat([gamma, torch.cat([image, text], dim=1) @ W.T + b], dim=1)
    return P @ q.T
''',
        "the bias b is left out": '''
def vbpr_scores(P, gamma, W, b, text, image):
    q = torch.cat([gamma, torch.cat([text, image], dim=1) @ W.T], dim=1)
    return P @ q.T
''',
        "content half first: q = [W f + b ; gamma]": '''
def vbpr_scores(P, gamma, W, b, text, image):
    q = torch.cat([torch.cat([text, image], dim=1) @ W.T + b, gamma], dim=1)
    return P @ q.T
''',
    },
    "q2_freedom_graph": {
        "the binary kNN graph is not normalised": _KNN + '''
    return image_weight * knn(image) + (1 - image_weight) * knn(text)
''',
        "an item is not its own neighbour": _KNN + '''
    s_v, s_t = knn(image, include_self=False) / k, knn(text, include_self=False) / k
    return image_weight * s_v + (1 - image_weight) * s_t
''',
        "dot products instead of cosine similarities": _KNN + '''
    s_v, s_t = knn(image, normalise=False) / k, knn(text, normalise=False) / k
    return image_weight * s_v + (1 - image_weight) * s_t
''',
        "the image weight applied to the text graph": _KNN + '''
    return image_weight * knn(text) / k + (1 - image_weight) * knn(image) / k
''',
    },
    "q3_pruning_weights": {
        "1 / (d_u d_i) without the square root": '''
def pruning_weights(train_coo):
    d_u = np.asarray(train_coo.sum(axis=1)).ravel()
    d_i = np.asarray(train_coo.sum(axis=0)).ravel()
    return 1.0 / (d_u[train_coo.row] * d_i[train_coo.col])
''',
        "1 / sqrt(d_u + d_i)": '''
def pruning_weights(train_coo):
    d_u = np.asarray(train_coo.sum(axis=1)).ravel()
    d_i = np.asarray(train_coo.sum(axis=0)).ravel()
    return 1.0 / np.sqrt(d_u[train_coo.row] + d_i[train_coo.col])
''',
    },
}
