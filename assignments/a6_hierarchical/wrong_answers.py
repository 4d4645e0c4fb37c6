"""Plausible wrong answers to assignment 6; each must lose points on its question.

``WRONG_ANSWERS[question][description]`` replaces that question's answer cell in the reference
notebook (``assignments/build.py --check`` and ``tests/test_assignments.py`` grade the result).
"""

WRONG_ANSWERS = {
    "q1_clip_loss": {
        "one direction only (image -> text)": '''
def clip_loss(image, text, scale):
    z = scale * np.asarray(image, np.float64) @ np.asarray(text, np.float64).T
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    return float(np.mean(lse - np.diag(z)))
''',
        "the temperature scale is left out": '''
def clip_loss(image, text, scale):
    z = np.asarray(image, np.float64) @ np.asarray(text, np.float64).T

    def cross_entropy(z):
        m = z.max(axis=1, keepdims=True)
        lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
        return float(np.mean(lse - np.diag(z)))

    return 0.5 * (cross_entropy(z) + cross_entropy(z.T))
''',
        "softmax over the batch axis in both terms (the same direction twice)": '''
def clip_loss(image, text, scale):
    z = scale * np.asarray(image, np.float64) @ np.asarray(text, np.float64).T
    m = z.max(axis=0, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=0, keepdims=True)))[0]
    return float(np.mean(lse - np.diag(z)))
''',
    },
    "q2_top_m_routes": {
        "least probable categories first (ascending sort)": '''
def top_m_routes(proba, m):
    proba = np.asarray(proba)
    codes = np.argsort(proba, axis=1, kind="stable")[:, :m]
    return codes, np.log(np.take_along_axis(proba, codes, axis=1) + 1e-12)
''',
        "probabilities instead of log-probabilities": '''
def top_m_routes(proba, m):
    proba = np.asarray(proba)
    codes = np.argsort(-proba, axis=1, kind="stable")[:, :m]
    return codes, np.take_along_axis(proba, codes, axis=1)
''',
    },
    "q3_routed_scores": {
        "no restriction: flat scores for every item": '''
def routed_scores(q_emb, g_emb, g_codes, routes, log_prior=None, scale=1.0):
    return np.asarray(q_emb) @ np.asarray(g_emb).T
''',
        "only the first route of each query is used": '''
def routed_scores(q_emb, g_emb, g_codes, routes, log_prior=None, scale=1.0):
    routes = np.asarray(routes).reshape(len(q_emb), -1)
    raw = np.asarray(q_emb) @ np.asarray(g_emb).T
    scores = np.full(raw.shape, -np.inf)
    for q in range(len(q_emb)):
        items = np.flatnonzero(np.asarray(g_codes) == routes[q, 0])
        prior = 0.0 if log_prior is None else log_prior[q, 0]
        scores[q, items] = (1.0 if log_prior is None else scale) * raw[q, items] + prior
    return scores
''',
        "soft routing without the temperature scale": '''
def routed_scores(q_emb, g_emb, g_codes, routes, log_prior=None, scale=1.0):
    routes = np.asarray(routes).reshape(len(q_emb), -1)
    raw = np.asarray(q_emb) @ np.asarray(g_emb).T
    scores = np.full(raw.shape, -np.inf)
    for q in range(len(q_emb)):
        for slot, c in enumerate(routes[q]):
            items = np.flatnonzero(np.asarray(g_codes) == c)
            prior = 0.0 if log_prior is None else log_prior[q, slot]
            scores[q, items] = raw[q, items] + prior
    return scores
''',
        "0 instead of -inf outside the routes": '''
def routed_scores(q_emb, g_emb, g_codes, routes, log_prior=None, scale=1.0):
    routes = np.asarray(routes).reshape(len(q_emb), -1)
    raw = np.asarray(q_emb) @ np.asarray(g_emb).T
    scores = np.zeros(raw.shape)
    for q in range(len(q_emb)):
        for slot, c in enumerate(routes[q]):
            items = np.flatnonzero(np.asarray(g_codes) == c)
            if log_prior is None:
                scores[q, items] = raw[q, items]
            else:
                scores[q, items] = scale * raw[q, items] + log_prior[q, slot]
    return scores
''',
    },
}
