"""Tables for Chapter 4 from BM3 results records (``book/results/bm3_*.json``) and the benchmark
records (``benchmarks/results/bm3_vs_reference_<data>.json``)."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from ..results import find_record_file

RECORD = "bm3_fashion-sim.json"
BENCHES = ("bm3_vs_reference_ci.json", "bm3_vs_reference_medium.json", "bm3_vs_reference_amazon-baby.json")
"""Benchmark records of ``benchmarks/bench_bm3.py`` (fashion-sim CI and medium sizes, Amazon Baby)."""


def load_bm3_records(name: str = RECORD) -> dict[str, Any]:
    """The record written by ``python -m mmrs.models.bm3_run`` (clear error when missing)."""
    path = find_record_file(name, "book")
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no BM3 record yet. The Makefile's `replicate` target lists the "
            f"python -m mmrs.models.bm3_run command that writes book/results/{name}."
        )
    return json.loads(path.read_text())


def binomial_se(p: float, n: int) -> float:
    """``sqrt(p (1 - p) / n)``: the standard error of a mean of ``n`` 0/1 outcomes with mean ``p``.

    Used for rare-item recall, where almost every evaluated user has exactly one rare test item,
    so the user's recall is 0 or 1 (approximate when a few users have more than one)."""
    return math.sqrt(p * (1.0 - p) / n)


def ablation_table(runs: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Test Recall/NDCG@20, rare-item Recall@20 (ranked among all items, and among rare items
    only where the record has it), best epoch and s/epoch per variant."""
    rows = {
        variant: {
            "recall@20": r["test"]["recall@20"],
            "ndcg@20": r["test"]["ndcg@20"],
            "rare recall@20": r["rare"]["recall@20"],
            **(
                {
                    "rare-within recall@20": r["rare_within"]["recall@20"],
                    "rare-within ±1 SE": binomial_se(r["rare_within"]["recall@20"], r["rare_within"]["n_users"]),
                }
                if "rare_within" in r
                else {}
            ),
            "valid recall@20": r["valid"]["recall@20"],
            "best epoch": r["best_epoch"],
            "epochs run": r["epochs_run"],
            "train s/epoch": r["seconds_per_epoch"]["train"],
        }
        for variant, r in runs.items()
    }
    return pd.DataFrame(rows).T


def speed_table(names: tuple[str, ...] = BENCHES) -> pd.DataFrame:
    """One row per benchmark record found: the data, seconds per epoch of ``mmrs`` BM3 and of the
    reference loop, and ``ours / reference`` (the issue's goal: at most 0.5). Missing records are
    skipped; none at all raises ``FileNotFoundError`` with the command that makes them."""
    rows = []
    for name in names:
        path = find_record_file(name, "benchmarks")
        if not path.is_file():
            continue
        record = json.loads(path.read_text())
        times = record["seconds_per_epoch"]
        rows.append(
            {
                "data": record["dataset"].split(":")[0].removeprefix("InteractionData(").strip("'"),
                "users": record["dataset"].split(": ")[1].split(" users")[0],
                "features": record["dataset"].rsplit("features: ", 1)[-1].rstrip(")"),
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
    if not path.is_file():
        raise FileNotFoundError(f"{path}: run python benchmarks/bench_table4.py first")
    record = json.loads(path.read_text())
    frame = pd.DataFrame(
        {
            r["model"]: {
                "train s/epoch": r["seconds_per_epoch"]["train"],
                "eval s/epoch": r["seconds_per_epoch"]["eval"],
                "peak RSS MiB": r["peak_rss_mb"],
                "parameters": r["parameters"],
            }
            for r in record["rows"]
        }
    ).T
    frame["parameters"] = frame["parameters"].astype(int)
    frame.attrs["command"] = record["command"]
    return frame
