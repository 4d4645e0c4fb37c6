"""Plausible wrong answers to assignment 7; each must lose points on its question.

``WRONG_ANSWERS[question][description]`` replaces that question's answer cell in the reference
notebook (``assignments/build.py --check`` and ``tests/test_assignments.py`` grade the result).
"""

WRONG_ANSWERS = {
    "q1_match_sets": {
        "min2 relaxes every neighbour of a lonely listing": '''
def match_sets(index, sim, threshold, min2=False, relaxed=np.inf):
    out = []
    for i, (row, s) in enumerate(zip(np.asarray(index), np.asarray(sim))):
        matches = {i}
        if threshold > 0:
            matches |= {int(j) for j, v in zip(row, s) if 1.0 - v < threshold}
        if min2 and len(matches) == 1 and relaxed > 0:
            matches |= {int(j) for j, v in zip(row, s) if 1.0 - v < relaxed}
        out.append(matches)
    return out
''',
        "min2 ignores the relaxed threshold (always adds the nearest)": '''
def match_sets(index, sim, threshold, min2=False, relaxed=np.inf):
    out = []
    for i, (row, s) in enumerate(zip(np.asarray(index), np.asarray(sim))):
        matches = {i}
        if threshold > 0:
            matches |= {int(j) for j, v in zip(row, s) if 1.0 - v < threshold}
        others = [int(j) for j in row if j != i]
        if min2 and len(matches) == 1 and others:
            matches.add(others[0])
        out.append(matches)
    return out
''',
        "a threshold <= 0 still accepts exact duplicates": '''
def match_sets(index, sim, threshold, min2=False, relaxed=np.inf):
    out = []
    for i, (row, s) in enumerate(zip(np.asarray(index), np.asarray(sim))):
        matches = {i} | {int(j) for j, v in zip(row, s) if 1.0 - v <= max(threshold, 0.0)}
        if min2 and len(matches) == 1:
            others = [(int(j), v) for j, v in zip(row, s) if j != i]
            if others and relaxed > 0 and 1.0 - others[0][1] < relaxed:
                matches.add(others[0][0])
        out.append(matches)
    return out
''',
        "the listing is only a match of itself when its row holds it": '''
def match_sets(index, sim, threshold, min2=False, relaxed=np.inf):
    out = []
    for i, (row, s) in enumerate(zip(np.asarray(index), np.asarray(sim))):
        matches = {int(j) for j, v in zip(row, s) if j == i or (threshold > 0 and 1.0 - v < threshold)}
        if min2 and matches <= {i}:
            others = [(int(j), v) for j, v in zip(row, s) if j != i]
            if others and relaxed > 0 and 1.0 - others[0][1] < relaxed:
                matches.add(others[0][0])
        out.append(matches)
    return out
''',
    },
    "q2_blend_stage": {
        "the listing itself is counted as a neighbour (x_i added twice)": '''
def blend_stage(x, index, sim, threshold):
    x = np.asarray(x, dtype=np.float64)
    out = x.copy()
    for i, (row, s) in enumerate(zip(np.asarray(index), np.asarray(sim))):
        for j, v in zip(row, s):
            if threshold > 0 and 1.0 - v < threshold:
                out[i] += max(v, 0.0) * x[j]
    return out / np.linalg.norm(out, axis=1, keepdims=True)
''',
        "negative similarities are not clipped at 0": '''
def blend_stage(x, index, sim, threshold):
    x = np.asarray(x, dtype=np.float64)
    out = x.copy()
    for i, (row, s) in enumerate(zip(np.asarray(index), np.asarray(sim))):
        for j, v in zip(row, s):
            if j != i and threshold > 0 and 1.0 - v < threshold:
                out[i] += v * x[j]
    return out / np.linalg.norm(out, axis=1, keepdims=True)
''',
        "not re-normalised": '''
def blend_stage(x, index, sim, threshold):
    x = np.asarray(x, dtype=np.float64)
    out = x.copy()
    for i, (row, s) in enumerate(zip(np.asarray(index), np.asarray(sim))):
        for j, v in zip(row, s):
            if j != i and threshold > 0 and 1.0 - v < threshold:
                out[i] += max(v, 0.0) * x[j]
    return out
''',
        "blends with the already-updated rows (in place)": '''
def blend_stage(x, index, sim, threshold):
    x = np.array(x, dtype=np.float64)
    for i, (row, s) in enumerate(zip(np.asarray(index), np.asarray(sim))):
        for j, v in zip(row, s):
            if j != i and threshold > 0 and 1.0 - v < threshold:
                x[i] += max(v, 0.0) * x[j]
    return x / np.linalg.norm(x, axis=1, keepdims=True)
''',
    },
    "q3_shopee_f1": {
        "Jaccard |P n T| / |P u T| instead of F1": '''
def shopee_f1(predicted, truth):
    return float(np.mean([len(set(p[:50]) & set(t)) / len(set(p[:50]) | set(t))
                          for p, t in zip(predicted, truth)]))
''',
        "predictions beyond the first 50 are counted": '''
def shopee_f1(predicted, truth):
    scores = []
    for p, t in zip(predicted, truth):
        p, t = set(p), set(t)
        scores.append(2 * len(p & t) / (len(p) + len(t)))
    return float(np.mean(scores))
''',
    },
}
