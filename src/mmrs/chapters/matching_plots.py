"""Figures of Chapter 7. Each function draws on a Matplotlib ``Axes`` and returns it."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ..matching.embeddings import Embedding
from ..matching.knn import similarity_rows


def _axes(ax: Axes | None, figsize: tuple[float, float] = (5.0, 3.6)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_threshold_curve(
    curve: pd.DataFrame, chosen: float | None = None, title: str = "", ax: Axes | None = None
) -> Axes:
    """Validation F1, precision and recall against the distance threshold ``t``.

    ``curve`` is indexed by threshold with columns ``f1``, ``precision``, ``recall`` (e.g.
    ``TuneResult.curve(view)``); ``chosen`` draws a vertical line at the tuned threshold.
    """
    missing = {"f1", "precision", "recall"} - set(curve.columns)
    if missing:
        raise ValueError(f"curve lacks column(s) {sorted(missing)}")
    ax = _axes(ax)
    for col, style in (("f1", "-"), ("precision", "--"), ("recall", ":")):
        ax.plot(curve.index, curve[col], style, label=col)
    if chosen is not None:
        ax.axvline(chosen, color="grey", linewidth=0.8)
    ax.set_xlabel("cosine distance threshold t")
    ax.set_ylabel("validation score")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(loc="lower right")
    ax.grid(True, alpha=0.3)
    return ax


def plot_ladder(
    tables: dict[str, pd.DataFrame], column: str = "test_f1", ax: Axes | None = None
) -> Axes:
    """One line per dataset: ``column`` at each ladder step (steps in table order)."""
    if not tables:
        raise ValueError("give at least one ladder table")
    ax = _axes(ax, (7.0, 3.8))
    steps = list(next(iter(tables.values())).index)
    for name, table in tables.items():
        ax.plot(range(len(table)), table[column].to_numpy(), marker="o", label=name)
    ax.set_xticks(range(len(steps)))
    ax.set_xticklabels(steps, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel(column.replace("_", " "))
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax


def group_similarity(x: Embedding, rows: Sequence[int]) -> np.ndarray:
    """Cosine similarities among the listings ``rows`` (a small square matrix)."""
    rows = np.asarray(rows)
    return similarity_rows(x, rows)[:, rows]


def plot_similarity_heatmap(
    sim: np.ndarray, labels: Sequence[str], title: str = "", ax: Axes | None = None,
    fontsize: float = 9,
) -> Axes:
    """A heat-map of a small similarity matrix with listing labels and the values printed
    (``fontsize`` for both: the book shows figures about 7 inches wide)."""
    sim = np.asarray(sim)
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1] or sim.shape[0] != len(labels):
        raise ValueError(
            f"sim must be square with one label per row; got {sim.shape}, {len(labels)} labels"
        )
    ax = _axes(ax, (4.2, 3.8))
    image = ax.imshow(sim, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(labels)))
    ax.set_yticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=fontsize)
    ax.set_yticklabels(labels, fontsize=fontsize)
    for i in range(sim.shape[0]):
        for j in range(sim.shape[1]):
            ax.text(
                j,
                i,
                f"{sim[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=fontsize - 1 if sim.shape[0] > 6 else fontsize,
                color="white" if sim[i, j] < 0.6 else "black",
            )
    ax.set_title(title)
    plt.colorbar(image, ax=ax, fraction=0.046)
    return ax


def plot_images(
    images: Sequence, titles: Sequence[str], ncols: int = 3, width: float = 2.3, wrap_at: int = 26,
    fontsize: float = 9,
):
    """A grid of photos, ``ncols`` to a row and ``width`` inches each, titled with their text
    wrapped at ``wrap_at`` characters in ``fontsize`` points; returns the figure."""
    if len(images) != len(titles) or not images:
        raise ValueError("give one title per image (and at least one image)")
    ncols = min(ncols, len(images))
    nrows = int(np.ceil(len(images) / ncols))
    lines = max(len(textwrap.wrap(t, wrap_at)) for t in titles)
    row_height = width * 4 / 3 + lines * fontsize / 72 * 1.3  # portrait photos + title lines
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, row_height * nrows), squeeze=False)
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, img, title in zip(np.ravel(axes), images, titles, strict=False):
        ax.imshow(img)
        ax.set_title(textwrap.fill(title, wrap_at), fontsize=fontsize)
    fig.tight_layout()
    return fig
