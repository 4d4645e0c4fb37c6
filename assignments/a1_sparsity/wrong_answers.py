"""Plausible wrong answers to assignment 1; each must lose points on its question.

``WRONG_ANSWERS[question][description]`` replaces that question's answer cell in the reference
notebook (``assignments/build.py --check`` and ``tests/test_assignments.py`` grade the result).
"""

WRONG_ANSWERS = {
    "q1_gini": {
        "the values are not sorted first": '''
def gini(values):
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0 or x.sum() == 0:
        return 0.0
    n = x.size
    k = np.arange(1, n + 1)
    return float(((2 * k - n - 1) * x).sum() / (n * x.sum()))
''',
        "divides by n - 1 instead of n": '''
def gini(values):
    x = np.sort(np.asarray(values, dtype=np.float64))
    if x.size == 0 or x.sum() == 0:
        return 0.0
    n = x.size
    k = np.arange(1, n + 1)
    return float(((2 * k - n - 1) * x).sum() / ((n - 1) * x.sum()))
''',
        "no guard for empty or all-zero input (nan)": '''
def gini(values):
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    k = np.arange(1, n + 1)
    return float(((2 * k - n - 1) * x).sum() / (n * x.sum()))
''',
    },
    "q2_kcore": {
        "one deletion pass instead of repeating until nothing changes": '''
def k_core_mask(users, items, k):
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    user_deg = np.bincount(users)
    item_deg = np.bincount(items)
    return (user_deg[users] >= k) & (item_deg[items] >= k)
''',
        "only users are filtered": '''
def k_core_mask(users, items, k):
    users = np.asarray(users, dtype=np.int64)
    return np.bincount(users)[users] >= k
''',
    },
    "q3_split_rule": {
        "the 20 % rule for every user (no minimum of one valid and one test item)": '''
def split_counts(n):
    n = np.asarray(n, dtype=np.int64)
    vt = (0.2 * n).astype(np.int64)
    return np.stack([n - vt, vt // 2, vt - vt // 2], axis=1)
''',
        "validation and test swapped for odd vt": '''
def split_counts(n):
    n = np.asarray(n, dtype=np.int64)
    vt = np.where(n < 10, 2, (0.2 * n).astype(np.int64))
    n_test = np.where(n < 10, 1, vt // 2)
    return np.stack([n - vt, vt - n_test, n_test], axis=1)
''',
        "rounds 0.2 n instead of taking the floor": '''
def split_counts(n):
    n = np.asarray(n, dtype=np.int64)
    vt = np.where(n < 10, 2, np.round(0.2 * n).astype(np.int64))
    n_valid = np.where(n < 10, 1, vt // 2)
    return np.stack([n - vt, n_valid, vt - n_valid], axis=1)
''',
    },
}
