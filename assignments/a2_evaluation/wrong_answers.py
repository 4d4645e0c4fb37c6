"""Plausible wrong answers to assignment 2; each must lose points on its question.

``WRONG_ANSWERS[question][description]`` replaces that question's answer cell in the reference
notebook (``assignments/build.py --check`` and ``tests/test_assignments.py`` grade the result).
"""

WRONG_ANSWERS = {
    "q1_recall": {
        "divides by K instead of |T| (that is Precision@K)": '''
def recall_at_k(topk, truth, k):
    values = []
    for row, relevant in zip(np.asarray(topk), truth):
        relevant = set(np.asarray(relevant).tolist())
        if not relevant:
            continue
        values.append(sum(item in relevant for item in row[:k].tolist()) / k)
    return float(np.mean(values))
''',
        "users without relevant items count as 0 instead of being skipped": '''
def recall_at_k(topk, truth, k):
    values = []
    for row, relevant in zip(np.asarray(topk), truth):
        relevant = set(np.asarray(relevant).tolist())
        hits = sum(item in relevant for item in row[:k].tolist())
        values.append(hits / len(relevant) if relevant else 0.0)
    return float(np.mean(values))
''',
        "counts hits in the whole row, not the first K": '''
def recall_at_k(topk, truth, k):
    values = []
    for row, relevant in zip(np.asarray(topk), truth):
        relevant = set(np.asarray(relevant).tolist())
        if not relevant:
            continue
        values.append(sum(item in relevant for item in row.tolist()) / len(relevant))
    return float(np.mean(values))
''',
    },
    "q2_ndcg": {
        "ideal DCG over K positions instead of min(|T|, K)": '''
def ndcg_at_k(topk, truth, k):
    discount = 1.0 / np.log2(np.arange(1, k + 1) + 1.0)
    values = []
    for row, relevant in zip(np.asarray(topk), truth):
        relevant = set(np.asarray(relevant).tolist())
        if not relevant:
            continue
        rel = np.array([item in relevant for item in row[:k].tolist()], dtype=float)
        values.append((rel * discount).sum() / discount.sum())
    return float(np.mean(values))
''',
        "ideal DCG over |T| positions, not capped at K": '''
def ndcg_at_k(topk, truth, k):
    values = []
    for row, relevant in zip(np.asarray(topk), truth):
        relevant = set(np.asarray(relevant).tolist())
        if not relevant:
            continue
        rel = np.array([item in relevant for item in row[:k].tolist()], dtype=float)
        dcg = (rel / np.log2(np.arange(1, k + 1) + 1.0)).sum()
        ideal = (1.0 / np.log2(np.arange(1, len(relevant) + 1) + 1.0)).sum()
        values.append(dcg / ideal)
    return float(np.mean(values))
''',
        "discount 1 / log2(k) with 0-based k (first position divides by zero)": '''
def ndcg_at_k(topk, truth, k):
    with np.errstate(divide="ignore"):
        discount = 1.0 / np.log2(np.arange(0, k) + 1.0)
    values = []
    for row, relevant in zip(np.asarray(topk), truth):
        relevant = set(np.asarray(relevant).tolist())
        if not relevant:
            continue
        rel = np.array([item in relevant for item in row[:k].tolist()], dtype=float)
        values.append((rel * discount).sum() / discount[: min(len(relevant), k)].sum())
    return float(np.mean(values))
''',
    },
    "q3_masked_topk": {
        "training items not masked": '''
def masked_topk(scores, train, k):
    return np.argsort(-np.asarray(scores), axis=1, kind="stable")[:, :k]
''',
        "training items set to 0 instead of -inf": '''
def masked_topk(scores, train, k):
    masked = np.array(scores, dtype=np.float64)
    coo = sp.coo_matrix(train)
    masked[coo.row, coo.col] = 0.0
    return np.argsort(-masked, axis=1, kind="stable")[:, :k]
''',
        "masks the caller's array in place": '''
def masked_topk(scores, train, k):
    coo = sp.coo_matrix(train)
    scores[coo.row, coo.col] = -np.inf
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]
''',
        "worst items first (ascending sort)": '''
def masked_topk(scores, train, k):
    masked = np.array(scores, dtype=np.float64)
    coo = sp.coo_matrix(train)
    masked[coo.row, coo.col] = np.inf
    return np.argsort(masked, axis=1, kind="stable")[:, :k]
''',
    },
}
