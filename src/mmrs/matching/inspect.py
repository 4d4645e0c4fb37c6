"""Helpers to look inside one group's neighbourhood (used by the chapter's heat-maps)."""

from __future__ import annotations

import numpy as np

from .embeddings import Embedding
from .f1 import matches_to_lists
from .knn import Neighbours, similarity_rows
from .threshold import match_matrix


def group_cohesion(x: Embedding, groups: np.ndarray, min_size: int = 3) -> dict[int, float]:
    """Mean pairwise similarity within each group of at least ``min_size`` listings."""
    groups = np.asarray(groups)
    out: dict[int, float] = {}
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        if len(rows) >= min_size:
            sim = similarity_rows(x, rows)[:, rows]
            out[int(g)] = float(sim[~np.eye(len(rows), dtype=bool)].mean())
    if not out:
        raise ValueError(f"no group has {min_size} or more listings")
    return out


def hardest_group(x: Embedding, groups: np.ndarray, min_size: int = 3) -> int:
    """The group whose listings are least similar to each other (lowest :func:`group_cohesion`)."""
    cohesion = group_cohesion(x, groups, min_size)
    return min(cohesion, key=cohesion.get)


def neighbourhood_rows(
    x: Embedding, groups: np.ndarray, group: int, outsiders: int = 2
) -> np.ndarray:
    """The rows of ``group`` followed by the ``outsiders`` other listings most similar to it.

    An outsider's similarity to the group is its largest similarity to any member.
    """
    groups = np.asarray(groups)
    members = np.flatnonzero(groups == group)
    if len(members) == 0:
        raise ValueError(f"group {group} has no listings")
    best = similarity_rows(x, members).max(axis=0)
    best[groups == group] = -np.inf
    others = np.argsort(-best, kind="stable")[:outsiders]
    return np.concatenate([members, others])


def marked_matches(nb: Neighbours, threshold: float, groups: np.ndarray, row: int) -> str:
    """Listing ``row``'s matches at ``threshold``, best first, each marked ``·`` (same group)
    or ``×`` (another group), e.g. ``"·4 ·7 ×12"``."""
    groups = np.asarray(groups)
    found = matches_to_lists(match_matrix(nb, threshold))[row]
    return " ".join(f"{'·' if groups[j] == groups[row] else '×'}{j}" for j in found)
