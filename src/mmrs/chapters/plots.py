"""Figures used by the chapters. Each function draws on a Matplotlib ``Axes`` and returns it.

Chapters call these instead of writing plotting code inline, so every figure's logic is tested
(``tests/test_plots.py`` checks what is drawn, not just that it ran).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from ..data.interactions import InteractionData
from ..data.stats import degree_ccdf, degrees, lorenz_curve, train_degree_of_split_items


def _axes(ax: Axes | None, figsize: tuple[float, float] = (5.0, 3.6)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_degree_ccdf(
    datasets: Sequence[InteractionData], side: str = "item", ax: Axes | None = None
) -> Axes:
    """Log-log complementary CDF ``P(D >= d)`` of user or item degrees, one line per dataset.

    A straight-ish line on log-log axes is the signature of a heavy (power-law-like) tail.
    """
    if side not in ("user", "item"):
        raise ValueError("side must be 'user' or 'item'")
    ax = _axes(ax)
    for data in datasets:
        user_deg, item_deg = degrees(data.train + data.valid + data.test)
        values, tail = degree_ccdf(user_deg if side == "user" else item_deg)
        ax.loglog(values, tail, marker=".", linestyle="-", markersize=3, label=data.name)
    ax.set_xlabel(f"{side} degree d (interactions)")
    ax.set_ylabel(f"P({side} degree ≥ d)")
    ax.set_title(f"{side.capitalize()} degree distribution (CCDF)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return ax


def plot_lorenz(datasets: Sequence[InteractionData], ax: Axes | None = None) -> Axes:
    """Lorenz-style curve: share of interactions covered by the most popular items."""
    ax = _axes(ax)
    for data in datasets:
        _, item_deg = degrees(data.train + data.valid + data.test)
        x, y = lorenz_curve(item_deg)
        ax.plot(100 * x, 100 * y, label=data.name)
    ax.plot([0, 100], [0, 100], color="grey", linestyle="--", linewidth=1, label="equal popularity")
    ax.axvline(20, color="black", linewidth=0.8, alpha=0.5)
    ax.set_xlabel("most popular items (%)")
    ax.set_ylabel("interactions covered (%)")
    ax.set_title("Long tail: how concentrated are interactions?")
    ax.legend()
    return ax


def plot_kcore_sweep(sweeps: dict[str, pd.DataFrame], ax: Axes | None = None) -> Axes:
    """Share of interactions kept by the k-core as ``k`` grows, one line per dataset."""
    ax = _axes(ax)
    for name, sweep in sweeps.items():
        ax.plot(sweep.index, sweep["kept_%"], marker="o", label=name)
    ax.set_xlabel("k (minimum interactions per user and per item)")
    ax.set_ylabel("interactions kept (%)")
    ax.set_title("What k-core filtering removes")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax


def plot_split_item_degrees(
    data: InteractionData, split: str = "test", max_degree: int = 30, ax: Axes | None = None
) -> Axes:
    """Histogram of the *training* degree of the items behind each ``split`` interaction."""
    ax = _axes(ax)
    deg = train_degree_of_split_items(data, split)
    clipped = np.minimum(deg, max_degree)
    bins = np.arange(-0.5, max_degree + 1.5, 1.0)
    ax.hist(clipped, bins=bins, color="tab:blue", alpha=0.8)
    ax.set_xlabel(f"training interactions of the item (≥ {max_degree}: last bar)")
    ax.set_ylabel(f"{split} interactions")
    ax.set_title(data.name)  # short: three panels share one row
    return ax


def plot_history(
    records: Sequence[dict], metric: str = "recall@20", ax: Axes | None = None
) -> Axes:
    """Validation ``metric`` per epoch from training records (``record["body"]["history"]``),
    best epoch marked."""
    ax = _axes(ax)
    for record in records:
        history = [h for h in record["body"]["history"] if h.get("epoch", 0) > 0]
        epochs = [h["epoch"] for h in history]
        values = [h[metric] for h in history]
        layers = record.get("config", {}).get("model", {}).get("n_layers")
        label = f"{record['model']}{'' if layers is None else f' L={layers}'} ({record['dataset']['name']})"
        (line,) = ax.plot(epochs, values, label=label)
        best = record["body"]["best_epoch"]
        if best in epochs:
            ax.plot([best], [values[epochs.index(best)]], marker="*", markersize=12, color=line.get_color())
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.set_ylabel(f"valid {metric}")
    ax.set_title(f"Validation {metric} during training (★ = best epoch)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax


def plot_metric_by(
    table: pd.DataFrame, x: str, metrics: Sequence[str], ax: Axes | None = None, title: str = ""
) -> Axes:
    """Line plot of ``metrics`` (columns of ``table``) against column ``x``."""
    ax = _axes(ax)
    for metric in metrics:
        ax.plot(table[x], table[metric], marker="o", label=metric)
    if pd.api.types.is_integer_dtype(table[x]):
        ax.set_xticks(table[x].tolist())
    ax.set_xlabel(x)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax
