"""Tables for Chapter 4 from BM3 results records (``book/results/bm3_*.json``) and the benchmark
records (``benchmarks/results/bm3_vs_reference_<data>.json``)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from .tables import find_record_file, int_columns, read_record_file

RECORD = "bm3_fashion-sim.json"
BENCHES = ("bm3_vs_reference_ci.json", "bm3_vs_reference_medium.json", "bm3_vs_reference_amazon-baby.json")
"""Benchmark records of ``benchmarks/bench_bm3.py`` (fashion-sim CI and medium sizes, Amazon Baby)."""


def load_bm3_records(name: str = RECORD) -> dict[str, Any]:
    """The record written by ``python -m mmrs.experiments.bm3`` (clear error when missing)."""
    path = find_record_file(name, "book")
    return read_record_file(path, "python -m mmrs run bm3 --list (names the command of each record)")


def binomial_se(p: float, n: int) -> float:
    """``sqrt(p (1 - p) / n)``: the standard error of a mean of ``n`` 0/1 outcomes with mean ``p``.

    Used for rare-item recall, where almost every evaluated user has exactly one rare test item,
    so the user's recall is 0 or 1 (approximate when a few users have more than one)."""
    return math.sqrt(p * (1.0 - p) / n)


def ablation_table(runs: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Test Recall/NDCG@20, rare-item Recall@20 (ranked among all items, and among rare items
    only where the record has it), best epoch and s/epoch per variant."""
    rows = {}
    for variant, r in runs.items():
        m, body = r["metrics"], r["body"]
        rows[variant] = {
            "recall@20": m["test"]["recall@20"],
            "ndcg@20": m["test"]["ndcg@20"],
            "rare recall@20": m["rare"]["recall@20"],
            **(
                {
                    "rare-within recall@20": m["rare_within"]["recall@20"],
                    "rare-within ±1 SE": binomial_se(m["rare_within"]["recall@20"], m["rare_within"]["n_users"]),
                }
                if "rare_within" in m
                else {}
            ),
            "valid recall@20": m["valid"]["recall@20"],
            "best epoch": body["best_epoch"],
            "epochs run": body["epochs_run"],
            "train s/epoch": r["timings"]["train_s_per_epoch"],
        }
    # the transpose upcasts the epoch counts to float: print them as integers
    return int_columns(pd.DataFrame(rows).T, ("best epoch", "epochs run"))


def speed_table(names: tuple[str, ...] = BENCHES) -> pd.DataFrame:
    """One row per benchmark record found: the data, seconds per epoch of ``mmrs`` BM3 and of the
    reference loop, and ``ours / reference`` (the issue's goal: at most 0.5). Missing records are
    skipped; none at all raises ``FileNotFoundError`` with the command that makes them."""
    rows = []
    for name in names:
        path = find_record_file(name, "benchmarks")
        if not path.is_file():
            continue
        record = read_record_file(path, "python benchmarks/bench_bm3.py")
        times = record["body"]["seconds_per_epoch"]
        description = record["dataset"]["description"]
        rows.append(
            {
                "data": record["dataset"]["name"],
                "users": description.split(": ")[1].split(" users")[0],
                "features": description.rsplit("features: ", 1)[-1].rstrip(")"),
                "ours s/epoch": times["ours"],
                "reference s/epoch": times["reference"],
                "ours / reference": times["ours"] / times["reference"],
                "command": record["command"],
            }
        )
    if not rows:
        raise FileNotFoundError(
            f"no BM3 benchmark record ({', '.join(names)}): run python benchmarks/bench_bm3.py first"
        )
    return pd.DataFrame(rows)


def table4(name: str = "table4_baby.json") -> pd.DataFrame:
    """BM3's Table 4 from ``benchmarks/bench_table4.py``: per model, train and eval seconds per
    epoch, peak resident memory (each model in its own process) and parameter count; the
    command in ``attrs["command"]``."""
    path = find_record_file(name, "benchmarks")
    record = read_record_file(path, "python benchmarks/bench_table4.py")
    frame = pd.DataFrame(
        {
            r["model"]: {
                "train s/epoch": r["seconds_per_epoch"]["train"],
                "eval s/epoch": r["seconds_per_epoch"]["eval"],
                "peak RSS MiB": r["peak_rss_mb"],
                "parameters": r["parameters"],
            }
            for r in record["body"]["rows"]
        }
    ).T
    frame["parameters"] = frame["parameters"].astype(int)
    frame.attrs["command"] = record["command"]
    return frame


def load_runs(names: tuple[str, ...] | list[str]) -> tuple[dict[str, dict[str, Any]], list[dict]]:
    """The runs of several ``train-set`` records made on the same data, merged into one
    ``{variant: run}`` (later records do not overwrite earlier variants), and the records.

    The first name must exist; a missing later one is skipped with a printed note (a chapter can
    show what it has). Records made on different data raise ``ValueError`` naming them.
    """
    loaded = [load_bm3_records(names[0])]
    for name in names[1:]:
        try:
            loaded.append(load_bm3_records(name))
        except FileNotFoundError as missing:
            print(missing)
    first = loaded[0]["dataset"]
    for name, record in zip(names, loaded, strict=False):
        if record["dataset"] != first:
            raise ValueError(f"{name} was made on other data than {names[0]}")
    runs: dict[str, dict[str, Any]] = {}
    for record in loaded:
        for variant, run in record["body"]["runs"].items():
            runs.setdefault(variant, run)
    return runs, loaded


def plot_ablation(table: pd.DataFrame, axes) -> None:
    """Two panels from an :func:`ablation_table`: test Recall/NDCG@20 over all test interactions,
    and Recall@20 among rare items only with ±1 binomial standard error; rows in table order."""
    table[["recall@20", "ndcg@20"]].plot.barh(ax=axes[0])
    axes[0].set(xlabel="test metric @20", title="all test interactions",
                xlim=(0, 1.45 * table["recall@20"].max()))
    axes[0].legend(loc="lower right")
    axes[1].barh(table.index, table["rare-within recall@20"], xerr=table["rare-within ±1 SE"],
                 color="tab:green")
    axes[1].set(xlabel="Recall@20 among rare items only",
                title="rare items (≤ 5 training interactions)")
    for ax in axes:
        ax.invert_yaxis()


def plot_ablation_seeds(costs: dict[str, dict], ax, label: str = "full − variant, test Recall@20") -> None:
    """Each ablation's seed-paired cost (the ``costs`` of
    :func:`mmrs.chapters.tables.ablation_seed_table`): one dot per seed and the mean with its
    Student-t interval as a bar, one row per variant in order; a line at 0 (no cost)."""
    names = list(costs)
    for y, name in enumerate(names):
        c = costs[name]
        ax.plot([c["low"], c["high"]], [y, y], color="tab:blue", lw=2)
        ax.plot(c["mean"], y, "|", color="tab:blue", ms=14, mew=2)
        ax.plot(c["differences"], [y] * len(c["differences"]), "o", color="tab:orange", ms=5,
                alpha=0.8, label="one seed" if y == 0 else None)
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set(xlabel=label)
    ax.legend(loc="upper right")
