"""The scaling benchmark's record (``benchmarks/bench_matching.py``) as a table and a plot.

The benchmark times kNN (k = 51) + 3 blending stages on synthetic 384-d listings in groups of
2–4, for faiss exact search and two approximate indexes (IVF, HNSW), either searching again
after every blend (``search``, as the Shopee pipeline) or re-scoring the first search's
candidates (``rerank``). This module only reads what the benchmark wrote.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.axes import Axes

from ..matching.knn import partner_recall  # noqa: F401 (re-exported)
from .tables import find_record_file, read_record_file

RECORD = "matching_scaling.json"
GOAL_SECONDS_100K = 30.0
"""The issue's goal: the whole pipeline for 100k listings in under 30 s on 2 cores."""


def load_scaling(name: str = RECORD) -> dict[str, Any]:
    """The benchmark record; a missing file raises ``FileNotFoundError`` with the command."""
    path = find_record_file(name, folder="benchmarks")
    return read_record_file(path, "python benchmarks/bench_matching.py")


def scaling_table(record: dict[str, Any]) -> pd.DataFrame:
    """One row per (n, index, strategy): total seconds, searches, partner recall of the first
    and the final neighbour lists, recall of the exact 51 neighbours, and whether the time was
    extrapolated from a sample of queries."""
    rows = []
    for r in record["body"]["results"]:
        rows.append(
            {
                "n": r["n"],
                "index": r["index"],
                "strategy": r["strategy"],
                "seconds": r["seconds"],
                "searches": len(r["search_seconds"]),
                "partner recall (first)": r.get("first_partner_recall"),
                "partner recall (final)": r.get("final_partner_recall"),
                "recall of exact top-51": r.get("first_recall_at_51_vs_exact"),
                "extrapolated": r.get("extrapolated", False),
            }
        )
    return pd.DataFrame(rows)


def plot_scaling(table: pd.DataFrame, ax: Axes, goal: float = GOAL_SECONDS_100K) -> Axes:
    """Seconds vs number of listings (log-log), one line per (index, strategy); extrapolated
    points hollow; the 100k goal as a marker line."""
    for (index, strategy), part in table.groupby(["index", "strategy"], sort=True):
        part = part.sort_values("n")
        line = ax.plot(part["n"], part["seconds"], "-", label=f"{index}, {strategy}")[0]
        measured = ~part["extrapolated"].astype(bool)
        ax.plot(part["n"][measured], part["seconds"][measured], "o", color=line.get_color())
        ax.plot(part["n"][~measured], part["seconds"][~measured], "o", mfc="none", color=line.get_color())
    ax.axhline(goal, color="grey", ls=":", lw=1)
    ax.annotate(f"goal at 100k: {goal:.0f} s", (table["n"].min(), goal), textcoords="offset points",
                xytext=(2, 4), fontsize=8, color="grey")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("listings n")
    ax.set_ylabel("seconds (kNN + 3 blends)")
    ax.legend(fontsize=8)
    return ax
