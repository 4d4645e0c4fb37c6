"""Tables of Chapter 6 from an evaluation dict (live run) or a results record (JSON)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .tables import find_record_file, read_record_file

PAPER_GAIN_PP = (4.5, 5.0)
"""The average gain of the cascade over the flat model reported by Oh and Kim (JITAM 32(6),
2025), in %p: an input quoted beside the measurements."""
PAPER_LABEL = "paper (Oh & Kim 2025)"
"""The row of the paper's figure in :func:`gain_frame`."""


def find_record(profile: str) -> Path:
    """``hierarchical_<profile>.json`` found by :func:`mmrs.chapters.tables.find_record_file`."""
    return find_record_file(f"hierarchical_{profile}.json")


def load_record(path_or_profile: str | Path) -> dict:
    """A results record written by ``python -m mmrs.experiments.hierarchical`` (a path or a profile)."""
    path = Path(path_or_profile)
    if path.suffix != ".json":
        path = find_record(str(path_or_profile))
    return read_record_file(path, "python -m mmrs.experiments.hierarchical --profile <name>")


def metric_frame(result: dict, ks=(5, 10, 20)) -> pd.DataFrame:
    """Variants × (P@K, MAP@K, NDCG@K, exact R@K) for one level's evaluation dict."""
    names = {"precision": "P", "map": "MAP", "ndcg": "NDCG", "exact_recall": "R_exact"}
    frame = pd.DataFrame(result["metrics"]).T
    cols = [f"{m}@{k}" for m in names for k in ks if f"{m}@{k}" in frame]
    frame = frame[cols].rename(columns=lambda c: names[c.split("@")[0]] + "@" + c.split("@")[1])
    frame["candidates"] = pd.Series(result["candidates"])
    return frame


def gain_frame(result: dict, ks=(5, 10, 20)) -> pd.DataFrame:
    """Gains over flat in %p (P, MAP, NDCG at each K), their mean, and the paper's range."""
    frame = pd.DataFrame(result["gain_pp"]).T
    cols = [f"{m}@{k}" for m in ("precision", "map", "ndcg") for k in ks]
    frame = frame[cols]
    frame["mean"] = pd.Series(result["mean_gain_pp"])
    frame.loc[PAPER_LABEL, "mean"] = sum(PAPER_GAIN_PP) / 2
    return frame


def propagation_frame(result: dict, k: int = 10) -> pd.DataFrame:
    """P@k and exact R@k of flat and cascade on correctly / wrongly routed queries."""
    rows = []
    for name, block in result["error_propagation"].items():
        for variant in ("flat", "cascade | predicted"):
            rows.append({"queries": name, "n": block["n_queries"], "variant": variant,
                         f"P@{k}": block[variant][f"precision@{k}"],
                         f"R_exact@{k}": block[variant][f"exact_recall@{k}"]})
    return pd.DataFrame(rows).set_index(["queries", "variant"])


def bucket_frame(result: dict) -> pd.DataFrame:
    """Per category-size bucket: queries, share with an own stage-2 head, P@K, gain (%p)."""
    return pd.DataFrame(result["buckets"]).set_index("bucket")


def decomposition_frame(results: dict[str, dict]) -> pd.DataFrame:
    """Split the cascade's mean gain (%p) into its parts, per routing level.

    reduction       = flat | predicted  − flat               (smaller search space, same heads)
    longer training = flat+ | predicted − flat | predicted   (heads trained as long as stage 2)
    specialisation  = cascade | predicted − flat+ | predicted (in-category negatives only)
    total           = cascade | predicted − flat (the three sum to it)
    """
    rows = {}
    for level, result in results.items():
        g = result["mean_gain_pp"]
        rows[level] = {
            "reduction": g["flat | predicted"],
            "longer training": g["flat+ | predicted"] - g["flat | predicted"],
            "specialisation": g["cascade | predicted"] - g["flat+ | predicted"],
            "total (cascade | predicted)": g["cascade | predicted"],
            "oracle (cascade | true)": g["cascade | true"],
        }
    frame = pd.DataFrame(rows).T
    frame["paper"] = sum(PAPER_GAIN_PP) / 2
    return frame


def latency_frame(latency: dict) -> pd.DataFrame:
    """Median µs per query, candidates scored and the ratio to flat, one row per variant."""
    return pd.DataFrame({k: v for k, v in latency.items() if isinstance(v, dict)}).T
