"""Plausible wrong answers to assignment 4; each must lose points on its question.

``WRONG_ANSWERS[question][description]`` replaces that question's answer cell in the reference
notebook (``assignments/build.py --check`` and ``tests/test_assignments.py`` grade the result).
"""

WRONG_ANSWERS = {
    "q1_cosine_loss": {
        "the negative cosine without the 1 (the paper's form, off by a constant)": '''
def cosine_loss(online, target):
    return -F.cosine_similarity(online, target, dim=-1).mean()
''',
        "sums over the batch instead of averaging": '''
def cosine_loss(online, target):
    return 1.0 - F.cosine_similarity(online, target, dim=-1).sum()
''',
        "dot products instead of cosines (not normalised)": '''
def cosine_loss(online, target):
    return 1.0 - (online * target).sum(dim=-1).mean()
''',
    },
    "q2_align_loss": {
        "the gradient flows into the target (no stop-gradient)": '''
def align_loss(online, h_items, p):
    target = F.dropout(h_items, p, training=True)
    return cosine_loss(online, target)
''',
        "no dropout on the target": '''
def align_loss(online, h_items, p):
    return cosine_loss(online, h_items.detach())
''',
        "dropout on the online side instead of the target": '''
def align_loss(online, h_items, p):
    return cosine_loss(F.dropout(online, p, training=True), h_items.detach())
''',
    },
}
