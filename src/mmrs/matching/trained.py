"""Trained views for the ladder: one ArcFace head per view, margin and scale tuned on validation.

For each view the head (:mod:`mmrs.matching.heads`) is trained on the *train* groups for every
``(margin, scale)`` of a small grid; each head is scored on the *validation* listings by the best
single-threshold F1 of the tuning objective (in the task's setting: pooled or clean–clean, with or
without one-to-one), and the best point is kept. The scores against the margin are the margin
curve. Sparse TF-IDF is first reduced with TruncatedSVD (fitted on all listings' TF-IDF, which uses
no labels) and each input is L2-normalised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .embeddings import Embedding, l2_normalize
from .heads import MARGINS_DEG, SCALES, HeadFit, train_head
from .knn import knn
from .setting import cross_source_knn
from .tune import MatchConfig, tune

SVD_DIM = 256


@dataclass
class TrainedViews:
    """Head outputs for every listing, the chosen head per view, and the margin grid's scores."""

    views: dict[str, np.ndarray]
    chosen: dict[str, dict[str, float]]
    grid: list[dict] = field(default_factory=list)


def dense_input(x: Embedding, seed: int = 0, dim: int = SVD_DIM) -> np.ndarray:
    """A dense, row-normalised input for a head: TruncatedSVD of sparse blocks, else as is."""
    from sklearn.decomposition import TruncatedSVD

    parts = x if isinstance(x, tuple) else (x,)
    out = []
    for part in parts:
        if sp.issparse(part):
            k = min(dim, part.shape[1] - 1, part.shape[0] - 1)
            part = TruncatedSVD(k, random_state=seed).fit_transform(part)
        out.append(np.asarray(part, dtype=np.float32))
    return np.asarray(l2_normalize(np.hstack(out)), dtype=np.float32)


def view_score(
    z: np.ndarray,
    groups: np.ndarray,
    sources: np.ndarray | None,
    objective: str,
    one_to_one: bool,
    k: int = 21,
) -> tuple[float, float]:
    """Best validation F1 of one view with one tuned threshold: ``(f1, threshold)``."""
    nb = knn(z, k) if sources is None else cross_source_knn(z, sources, k)
    res = tune({"v": nb}, groups, MatchConfig({"v": 0.5}, one_to_one=one_to_one),
               objective=objective)
    return res.scores["f1"], res.config.thresholds["v"]


def train_views(
    views: Mapping[str, Embedding],
    groups: np.ndarray,
    split: np.ndarray,
    sources: np.ndarray | None,
    objective: str,
    one_to_one: bool,
    margins: tuple[float, ...] = MARGINS_DEG,
    scales: tuple[float, ...] = SCALES,
    epochs: int = 40,
    seed: int = 0,
) -> TrainedViews:
    """Train heads on ``split == "train"``, pick (margin, scale) on ``split == "val"``."""
    split = np.asarray(split)
    tr, va = split == "train", split == "val"
    out, chosen, grid = {}, {}, []
    for name, x in views.items():
        inp = dense_input(x, seed)
        best: tuple[float, HeadFit] | None = None
        for scale in scales:
            for margin in margins:
                fit = train_head(inp[tr], groups[tr], margin, scale, epochs=epochs, seed=seed)
                f1, t = view_score(fit.transform(inp[va]), groups[va],
                                   None if sources is None else sources[va], objective, one_to_one)
                grid.append({"view": name, "margin": margin, "scale": scale, "val_f1": f1,
                             "threshold": t, "final_loss": fit.losses[-1]})
                if best is None or f1 > best[0] + 1e-12:
                    best = (f1, fit)
        assert best is not None
        out[name] = best[1].transform(inp)
        chosen[name] = {"margin": best[1].margin, "scale": best[1].scale, "val_f1": best[0]}
    return TrainedViews(out, chosen, grid)
