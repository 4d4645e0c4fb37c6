"""Figures of Chapter 6 (each returns the matplotlib ``Figure``)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..hierarchical.interference import pca_2d
from .hierarchical import PAPER_GAIN_PP


def plot_embedding_map(embeddings: np.ndarray, labels, top: int = 8, title: str = ""):
    """The rows of the ``top`` most frequent ``labels``, on the first two principal components
    of those rows' ``embeddings`` (:func:`~mmrs.hierarchical.interference.pca_2d`), coloured
    by label."""
    labels = np.asarray(labels)
    names, counts = np.unique(labels, return_counts=True)
    keep = names[np.argsort(-counts, kind="stable")][:top]
    rows = np.isin(labels, keep)
    coords, labels = pca_2d(np.asarray(embeddings)[rows]), labels[rows]
    fig, ax = plt.subplots(figsize=(6.5, 5))
    for name in keep:
        ax.scatter(*coords[labels == name].T, s=7, alpha=0.7, label=name)
    ax.set(xlabel="PC 1", ylabel="PC 2", title=title)
    ax.legend(markerscale=3, fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def plot_gains(mean_gain: dict[str, float], title: str = ""):
    """Horizontal bars: mean gain over flat (%p) per variant, with the paper's band shaded."""
    names = [n for n in mean_gain if n != "flat"]
    values = [mean_gain[n] for n in names]
    fig, ax = plt.subplots(figsize=(6.5, 3))
    ax.axvspan(*PAPER_GAIN_PP, color="tab:green", alpha=0.2, label="paper: +4.5–5.0 %p")
    ax.barh(names, values, color=["tab:blue" if v >= 0 else "tab:red" for v in values])
    ax.axvline(0, color="black", lw=0.8)
    ax.set(xlabel="mean gain over flat (%p, P/MAP/NDCG@5,10,20)", title=title)
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_buckets(buckets: list[dict], title: str = "", prefix: str = ""):
    """The cascade's gain over flat (%p, P@K; or the metric ``prefix`` names, e.g.
    ``"MRR_exact "``) per category-size bucket, as stacked parts (reduction, extra training,
    specialisation) with the total marked; parts missing from ``buckets`` are left out."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    names = [b["bucket"] for b in buckets]
    x = np.arange(len(names))
    colours = {"reduction": "tab:blue", "extra_training": "tab:gray", "specialisation": "tab:orange"}
    pos, neg = np.zeros(len(names)), np.zeros(len(names))
    for part, colour in colours.items():
        key = f"{prefix}{part}_pp"
        if not all(key in b for b in buckets):
            continue
        v = np.array([b[key] for b in buckets])
        base = np.where(v >= 0, pos, neg)
        ax.bar(x, v, bottom=base, color=colour, width=0.6, label=part.replace("_", " "))
        pos, neg = pos + np.maximum(v, 0), neg + np.minimum(v, 0)
    gains = [b[f"{prefix}gain_pp"] for b in buckets]
    ax.plot(x, gains, "kD", label="total (cascade − flat)")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x, names)
    ax.set(ylabel="cascade − flat (%p)", xlabel="size of the query's category in the gallery",
           title=title)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig
