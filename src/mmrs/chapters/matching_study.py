"""Tables and figures of Chapter 7's second half: settings, trained heads, blending, anchors.

Each function reads a record written by :func:`mmrs.experiments.matching.run_study` (see that
module for what the record holds) and returns a table or draws on an ``Axes``; the notebook only
calls them.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ..data.published import published_matching_table
from ..matching.knn import knn
from ..matching.setting import cross_source_knn
from .seed_tables import mean_sd, paired_interval, verdict

KINDS = ("frozen", "trained")


def _objective_test(record: dict) -> str:
    """The test column that matches the record's tuning objective."""
    return "test_pair_f1" if record["metrics"]["objective"] == "pair" else "test_f1"


def ladder_both(record: dict) -> pd.DataFrame:
    """Test pair-level F1 and Shopee F1 per step, frozen beside trained, with the self-only row."""
    frames = []
    for kind in KINDS:
        rows = pd.DataFrame(record["metrics"]["ladders"][kind]).set_index("step")
        frames.append(rows[["test_pair_f1", "test_f1"]].rename(
            columns={"test_pair_f1": f"{kind} pair F1", "test_f1": f"{kind} Shopee F1"}))
    out = pd.concat(frames, axis=1)
    base = record["metrics"]["baseline"]["test"]
    out.loc["self only (baseline)"] = [base["pair_f1"], base["shopee_f1"]] * 2
    return out


def selected(record: dict, kind: str) -> dict:
    """The row of the step with the best validation objective (what one would submit)."""
    rows = record["metrics"]["ladders"][kind]
    return max(rows, key=lambda r: r["val_f1"])


def val_test_gap(record: dict) -> pd.DataFrame:
    """Validation vs test of the tuning objective per step and kind, and their difference."""
    col = _objective_test(record)
    out = []
    for kind in KINDS:
        for r in record["metrics"]["ladders"][kind]:
            out.append({"kind": kind, "step": r["step"], "validation": r["val_f1"],
                        "test": r[col], "val − test": r["val_f1"] - r[col]})
    return pd.DataFrame(out).set_index(["kind", "step"])


def settings_table(record: dict) -> pd.DataFrame:
    """The setting comparison (frozen features, no blending): for each variant the step chosen on
    validation, its test pair-level precision, recall and F1 and its test Shopee F1."""
    out = {}
    for name, rows in record["metrics"]["settings"].items():
        best = max(rows, key=lambda r: r["val_f1"])
        out[name] = {"chosen step": best["step"], "pair precision": best["test_pair_precision"],
                     "pair recall": best["test_pair_recall"], "pair F1": best["test_pair_f1"],
                     "Shopee F1": best["test_f1"]}
    return pd.DataFrame(out).T


def margin_curve(record: dict) -> pd.DataFrame:
    """Validation F1 of each view's head against the ArcFace margin (degrees), at the scale
    chosen for that view."""
    grid = pd.DataFrame(record["metrics"]["heads"]["grid"])
    chosen = record["metrics"]["heads"]["chosen"]
    keep = [grid["scale"].eq(chosen[v]["scale"]) & grid["view"].eq(v) for v in chosen]
    sub = grid[np.logical_or.reduce(keep)]
    return sub.pivot(index="margin", columns="view", values="val_f1")


def frozen_view_scores(record: dict) -> dict[str, float]:
    """Validation objective of each single view with frozen features (the ladder's first rows)."""
    rows = record["metrics"]["ladders"]["frozen"]
    return {r["step"].removesuffix(" only"): r["val_f1"] for r in rows if r["step"].endswith(" only")}


def inb_table(records: dict[str, dict]) -> pd.DataFrame:
    """INB's test effect per dataset and embedding kind: pair F1 and Shopee F1 before/after."""
    out = []
    for name, rec in records.items():
        for kind in KINDS:
            e = rec["metrics"]["inb_effect"][kind]
            out.append({"dataset": name, "embeddings": kind, "stage": e["after"],
                        "pair F1 before": e["pair_f1_before"], "pair F1 after": e["pair_f1_after"],
                        "Δ pair F1": e["pair_f1_after"] - e["pair_f1_before"],
                        "Δ Shopee F1": e["shopee_f1_after"] - e["shopee_f1_before"]})
    return pd.DataFrame(out).set_index(["dataset", "embeddings"])


def inb_by_group_size(record: dict) -> pd.DataFrame:
    """Mean per-listing Shopee F1 change from INB by true group size, per embedding kind."""
    out = []
    for kind in KINDS:
        for size, v in record["metrics"]["inb_effect"][kind]["by_group_size"].items():
            out.append({"embeddings": kind, "group size": size, "listings": v["listings"],
                        "Δ F1": v["after"] - v["before"]})
    return pd.DataFrame(out).pivot(index="group size", columns="embeddings", values="Δ F1")


def anchors_table(records: dict[str, dict]) -> pd.DataFrame:
    """Published pair-level F1 (%) beside ours (the validation-selected step, test part)."""
    pub = published_matching_table()[["setting", "abt-buy", "amazon-google"]]
    ours = []
    for kind in KINDS:
        row = {"setting": f"this book, {kind} features: clean–clean + one-to-one, test groups"}
        for name in ("abt-buy", "amazon-google"):
            row[name] = 100 * selected(records[name], kind)["test_pair_f1"]
        ours.append(pd.Series(row, name=f"ours ({kind})"))
    return pd.concat([pub, pd.DataFrame(ours)])


def nn_precision(x, groups: np.ndarray, sources: np.ndarray | None) -> float:
    """Share of listings *with* a partner whose nearest other listing is a true partner, pooled
    (``sources=None``) or searching only the other source."""
    groups = np.asarray(groups)
    nb = knn(x, 2) if sources is None else cross_source_knn(x, sources, 2)
    other = np.where(nb.index[:, 0] == np.arange(len(groups)), nb.index[:, 1], nb.index[:, 0])
    _, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    has = sizes[inverse] > 1
    return float((groups[other] == groups)[has].mean())


def plot_margin_curves(curves: dict[str, pd.DataFrame], frozen: dict[str, dict[str, float]],
                       ax: Axes | None = None) -> Axes:
    """Validation F1 against the ArcFace margin per dataset and view; dotted: frozen features."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.8))
    for i, (name, curve) in enumerate(curves.items()):
        for j, view in enumerate(curve.columns):
            color = f"C{2 * i + j}"
            ax.plot(curve.index, curve[view], "o-", color=color, label=f"{name}: {view}")
            if view in frozen.get(name, {}):
                ax.axhline(frozen[name][view], color=color, linestyle=":", linewidth=1)
    ax.set_xlabel("ArcFace margin m (degrees)")
    ax.set_ylabel("validation F1 (one view)")
    ax.legend(fontsize=7, loc="lower right")
    return ax


def plot_frozen_vs_trained(tables: dict[str, pd.DataFrame], ax: Axes | None = None) -> Axes:
    """Test pair-level F1 along the ladder, frozen (dashed) and trained (solid), per dataset."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.8))
    for i, (name, t) in enumerate(tables.items()):
        steps = [s for s in t.index if s != "self only (baseline)"]
        ax.plot(range(len(steps)), t.loc[steps, "frozen pair F1"], "--", color=f"C{i}",
                label=f"{name} frozen")
        ax.plot(range(len(steps)), t.loc[steps, "trained pair F1"], "-", color=f"C{i}",
                label=f"{name} trained")
    ax.set_xticks(range(len(steps)), steps, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("test pair-level F1")
    ax.legend(fontsize=7)
    return ax


BEFORE_BLENDING = "union + min2"
"""The ladder step the INB stages blend on: "blending vs no blending" compares each stage with it."""


def split_seed_runs(main: dict, folder: str | Path | None = None) -> list[dict]:
    """``main`` and the ``matching`` records of the same dataset under ``<folder>/seeds/``
    (default: the ``book/results`` of :func:`mmrs.records.results_folder`) made with the same
    settings (``config`` but the sizes of the split's parts), ordered by split seed. Raises ``ValueError`` on a repeated seed or
    when no other seed matches."""
    from .seed_tables import same_setting_seed_runs

    def settings(r: dict) -> tuple:  # the split's sizes differ from seed to seed by design
        return r["dataset"]["name"], {k: v for k, v in r["config"].items()
                                      if k not in ("listings", "groups")}

    name = main["dataset"]["name"]
    return same_setting_seed_runs(
        main, "matching", settings, lambda r: r["seeds"]["split"], folder,
        missing=f"no other-split record with the settings of '{main['command']}'; make them with "
                "the matching experiment's <dataset>-s<seed> points "
                "(python -m mmrs.experiments.matching --seed N)",
        repeated=f"two {name} records share a split seed: {{seeds}}",
    )


def _by_seed(runs: list[dict], kind: str, step: str, metric: str) -> dict[int, float]:
    """``{split seed: test metric}`` of one ladder step (``step="selected"``: the step with the
    best validation objective in each run, :func:`selected`)."""
    out = {}
    for r in runs:
        row = selected(r, kind) if step == "selected" else next(
            x for x in r["metrics"]["ladders"][kind] if x["step"] == step)
        out[r["seeds"]["split"]] = row[metric]
    return out


def ladder_seed_table(runs: list[dict], metric: str = "test_pair_f1") -> pd.DataFrame:
    """Per (embeddings, step): the test ``metric`` of each split seed, mean and sd (ddof 1)."""
    out = {}
    for kind in KINDS:
        for step in [x["step"] for x in runs[0]["metrics"]["ladders"][kind]]:
            values = _by_seed(runs, kind, step, metric)
            s = mean_sd(list(values.values()))
            out[(kind, step)] = {**{f"seed {k}": v for k, v in values.items()},
                                 "mean": s["mean"], "sd": s["sd"]}
    frame = pd.DataFrame(out).T
    frame.index.names = ["embeddings", "step"]
    return frame


def _interval_row(a: dict[int, float], b: dict[int, float]) -> dict:
    iv = paired_interval(a, b)
    return {**{f"seed {s}": d for s, d in zip(iv["seeds"], iv["differences"], strict=True)},
            "mean": iv["mean"], "sd": iv["sd"], "low": iv["low"], "high": iv["high"],
            "verdict": verdict(iv)}


def blending_intervals(runs: list[dict], metric: str = "test_pair_f1") -> pd.DataFrame:
    """Per (embeddings, INB stage): test ``metric`` of the stage minus :data:`BEFORE_BLENDING`,
    paired by split seed, with the 95 % t-interval (:func:`mmrs.chapters.seed_tables.paired_interval`)."""
    out = {}
    for kind in KINDS:
        stages = [x["step"] for x in runs[0]["metrics"]["ladders"][kind] if x["step"].startswith("INB")]
        before = _by_seed(runs, kind, BEFORE_BLENDING, metric)
        for stage in stages:
            out[(kind, stage)] = _interval_row(_by_seed(runs, kind, stage, metric), before)
    frame = pd.DataFrame(out).T
    frame.index.names = ["embeddings", "stage"]
    return frame


def training_intervals(runs: list[dict], metric: str = "test_pair_f1") -> pd.DataFrame:
    """Per ladder step, and for the validation-selected step (``"selected"``): test ``metric``
    with trained heads minus frozen features, paired by split seed, with the 95 % t-interval."""
    steps = [x["step"] for x in runs[0]["metrics"]["ladders"]["frozen"]] + ["selected"]
    frame = pd.DataFrame({step: _interval_row(_by_seed(runs, "trained", step, metric),
                                              _by_seed(runs, "frozen", step, metric))
                          for step in steps}).T
    frame.index.name = "step"
    return frame
