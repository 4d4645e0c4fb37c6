"""Chapter 5's section on the rest of BM3's comparison (MMGCN, GRCN, DualGNN, LATTICE, BUIR):
the efficiency table (BM3's Table 4, complete), the complexity figure, the reference-loop ratios,
the accuracy of the declared grid points (run or not yet run, with their estimated cost), and the
comparisons with the Inha AI Challenge entry's NDCG@50 and MMRec's published Baby numbers.

Every function takes records (dicts of :mod:`mmrs.records`) so that the tests can hand it small
synthetic ones; :func:`load_benchmark` reads the committed ``benchmarks/results`` records. Ratios
of cost are taken from **CPU seconds** (``time.process_time`` at 1 thread in the benchmarks): on a
machine shared with other jobs the wall seconds of two models measured at different moments are
not comparable, their CPU seconds are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..data.published import INHA_NDCG50, MMREC_BABY
from .tables import find_record_file, int_columns, read_record_file

MODEL_LABELS: dict[str, str] = {
    "bpr": "BPR", "lightgcn": "LightGCN", "vbpr": "VBPR", "mmgcn": "MMGCN", "grcn": "GRCN",
    "dualgnn": "DualGNN", "lattice": "LATTICE", "bm3": "BM3", "freedom": "FREEDOM", "buir": "BUIR",
}
"""Display names of the models (keys: :data:`mmrs.models.MODELS` names)."""

GRAPH_MULTIMODAL: tuple[str, ...] = ("mmgcn", "grcn", "dualgnn", "lattice")
"""The graph-based multimodal baselines of the BM3 paper's efficiency claim."""

NEW_MODELS: tuple[str, ...] = ("mmgcn", "grcn", "dualgnn", "lattice")
"""The models of this section that have full-size fashion-sim grid points (BUIR runs on Amazon)."""

COST_SOURCES: dict[str, str] = {
    "bpr": "two embedding lookups per triple",
    "lightgcn": "sparse products with the user–item graph (L layers), every batch",
    "vbpr": "one projection of the batch items' raw features",
    "mmgcn": "per modality, 3 layers over all users and items every batch, the first at feature width",
    "grcn": "per-edge attention and weights over both directions of every edge, every batch",
    "dualgnn": "per modality, a 2-layer MLP and 2 graph products, plus the user–user graph",
    "lattice": "item–item kNN graph re-learned each epoch (|I|² similarities); user–item layers",
    "bm3": "one LightGCN layer, projections of all items, no negatives; trainable feature tables",
    "freedom": "frozen item–item graph and a re-pruned user–item graph; trainable feature tables",
}
"""Where each model's cost per epoch comes from (from the models' docstrings), for the table."""

PAPER_SPEEDUP: tuple[float, float] = (2.0, 9.0)
"""The BM3 paper's claim: 2–9× less training time per epoch than the graph-based multimodal
baselines (Section 4.6; its Table 4's numbers are not in the documents used here)."""

PAPER_LATTICE_RATIO: float = 0.5
"""The BM3 paper's claim: BM3 needs about half of LATTICE's training time and memory."""


def load_benchmark(name: str) -> dict[str, Any]:
    """The benchmark record ``benchmarks/results/<name>`` (a clear error naming the command when
    it is missing)."""
    path = find_record_file(name, "benchmarks")
    return read_record_file(path, "python -m mmrs run benchmarks --list (names each command)")


def efficiency_table(record: Mapping[str, Any], base: str = "bm3") -> pd.DataFrame:
    """BM3's Table 4 from a ``bench_table4.py`` record: per model (display name) train and eval
    CPU seconds per epoch, train wall seconds, peak RSS, parameters, train CPU time and peak
    memory as multiples of ``base``'s, and where the cost comes from (:data:`COST_SOURCES`)."""
    rows = {r["model"]: r for r in record["body"]["rows"]}
    if base not in rows:
        raise ValueError(f"the record has no {base!r} row to compare with (rows: {sorted(rows)})")
    ref = rows[base]
    out = {}
    for name, r in rows.items():
        cpu = r["cpu_seconds_per_epoch"]
        out[MODEL_LABELS.get(name, name)] = {
            "train CPU s/epoch": cpu["train"],
            "eval CPU s/epoch": cpu["eval"],
            "train wall s/epoch": r["seconds_per_epoch"]["train"],
            "peak RSS MiB": r["peak_rss_mb"],
            "parameters": int(r["parameters"]),
            f"train time × {MODEL_LABELS.get(base, base)}": cpu["train"] / ref["cpu_seconds_per_epoch"]["train"],
            f"memory × {MODEL_LABELS.get(base, base)}": r["peak_rss_mb"] / ref["peak_rss_mb"],
            "cost comes from": COST_SOURCES.get(name, ""),
        }
    table = pd.DataFrame(out).T
    for c in table.columns:
        if c != "cost comes from":
            table[c] = pd.to_numeric(table[c])
    table["parameters"] = table["parameters"].astype(int)
    table.attrs["command"] = record["command"]
    table.attrs["epochs"] = record["config"].get("epochs")
    return table


def paper_claims(table: pd.DataFrame) -> dict[str, Any]:
    """Our measurement against the BM3 paper's claims, from :func:`efficiency_table`:
    ``speedup`` (each graph-based multimodal baseline's train CPU time over BM3's), how many fall
    in the paper's 2–9× range, and BM3's train time and memory as fractions of LATTICE's."""
    col = "train CPU s/epoch"
    bm3 = table.loc["BM3"]
    speedup = {MODEL_LABELS[m]: float(table.loc[MODEL_LABELS[m], col] / bm3[col])
               for m in GRAPH_MULTIMODAL if MODEL_LABELS[m] in table.index}
    low, high = PAPER_SPEEDUP
    out: dict[str, Any] = {
        "speedup": speedup,
        "in_range": sum(low <= s <= high for s in speedup.values()),
        "n_baselines": len(speedup),
        "speedup_min": min(speedup.values()) if speedup else float("nan"),
        "speedup_max": max(speedup.values()) if speedup else float("nan"),
    }
    if "LATTICE" in table.index:
        lat = table.loc["LATTICE"]
        out["bm3_over_lattice_time"] = float(bm3[col] / lat[col])
        out["bm3_over_lattice_memory"] = float(bm3["peak RSS MiB"] / lat["peak RSS MiB"])
    return out


def complexity_table(record: Mapping[str, Any]) -> pd.DataFrame:
    """CPU seconds of each step by number of items, from a ``bench_complexity.py`` record; the
    fitted log–log slopes in ``attrs["slopes"]`` (all sizes), ``attrs["slopes_top3"]`` and the
    formulas' ``attrs["expected"]``."""
    body = record["body"]
    table = pd.DataFrame({r["n_items"]: r["cpu_s"] for r in body["rows"]}).T
    table.index.name = "items"
    table.attrs["slopes"] = dict(body["slopes"])
    table.attrs["slopes_top3"] = dict(body.get("slopes_top3", {}))
    table.attrs["expected"] = dict(body.get("expected_slopes", {}))
    return table


COMPLEXITY_LABELS: dict[str, str] = {
    "lattice_raw_graph": "LATTICE: kNN graphs of the raw features (once)",
    "lattice_learned_graph": "LATTICE: learned graph, projections + kNN (every epoch)",
    "bm3_projection": "BM3: projections of all items (forward + backward)",
}


def plot_complexity(table: pd.DataFrame, ax) -> None:  # type: ignore[no-untyped-def]
    """Log–log plot of :func:`complexity_table`: measured CPU seconds per step (markers), the
    least-squares line through them, and its slope beside the formula's in the legend."""
    x = table.index.to_numpy(dtype=float)
    for step in table.columns:
        y = table[step].to_numpy(dtype=float)
        slope = table.attrs["slopes"][step]
        intercept = np.mean(np.log(y) - slope * np.log(x))
        expected = table.attrs.get("expected", {}).get(step)
        label = f"{COMPLEXITY_LABELS.get(step, step)}: slope {slope:.2f}"
        if expected is not None:
            label += f" (formula {expected})"
        (line,) = ax.plot(x, y, "o", label=label)
        ax.plot(x, np.exp(intercept) * x**slope, "-", color=line.get_color(), lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(xlabel="number of items |I|", ylabel="CPU seconds per step (1 thread)")
    ax.legend(fontsize=8)


def reference_table(record: Mapping[str, Any]) -> pd.DataFrame:
    """Ours vs the reference-style loop per model, from a ``bench_lattice_grcn.py`` record: CPU
    seconds per epoch of each, the ratio ours / reference (and the median of the per-batch ratios
    after the first batch, where recorded), whether it meets the goal (≤ 0.5), the items trained
    on and the largest difference of the compared first losses."""
    rows = {}
    for name, r in record["body"]["results"].items():
        rows[MODEL_LABELS.get(name, name)] = {
            "ours CPU s/epoch": r["ours"]["cpu_s_per_epoch"],
            "reference CPU s/epoch": r["reference"]["cpu_s_per_epoch"],
            "ours / reference": r["ratio"],
            "per-batch ratio, median": (r["ratio_per_batch_quartiles"][1]
                                        if "ratio_per_batch_quartiles" in r else float("nan")),
            "goal ≤ 0.5 met": bool(r["ratio"] <= 0.5),
            "items": int(r["n_items"]),
            "batches timed": int(r["batches_timed"]),
            "batches per epoch": int(r["batches_per_epoch"]),
            "max |loss diff|, first batches": r["max_abs_loss_diff"],
        }
    return pd.DataFrame(rows).T.infer_objects()


def point_model(argv: Iterable[str]) -> str:
    """The ``--model`` of a point's command."""
    argv = list(argv)
    return argv[argv.index("--model") + 1]


def point_epochs(argv: Iterable[str]) -> int:
    """The ``--max-epochs`` of a point's command (the epoch cap)."""
    argv = list(argv)
    return int(argv[argv.index("--max-epochs") + 1])


def grid_status(points: Iterable[Any], records_by_path: Mapping[str, dict], table4: pd.DataFrame,
                typical_epochs: float | None = None, metric: str = "recall@20") -> pd.DataFrame:
    """One row per declared grid point (``mmrs.experiments.Point``): its model, whether its record
    exists (``records_by_path``: record path -> record), the test ``metric`` and NDCG@50 and
    the best epoch where it does, and for the others the estimated CPU hours at 1 thread:
    (train + eval CPU s/epoch from :func:`efficiency_table`) × the epoch cap, and × ``typical_epochs``
    (e.g. how long the other full-size runs actually ran before early stopping) when given."""
    rows = []
    for p in points:
        model = point_model(p.argv)
        label = MODEL_LABELS.get(model, model)
        per_epoch = float(table4.loc[label, "train CPU s/epoch"] + table4.loc[label, "eval CPU s/epoch"]) \
            if label in table4.index else float("nan")
        record = records_by_path.get(p.record)
        row: dict[str, Any] = {"model": label, "point": p.name, "status": "run" if record else "not run yet"}
        if record is not None:
            row[f"test {metric}"] = record["metrics"]["test"][metric]
            row["test ndcg@50"] = record["metrics"]["test"].get("ndcg@50", float("nan"))
            row[f"valid {metric}"] = record["metrics"]["valid"][metric]
            row["best epoch"] = record["body"]["best_epoch"]
        else:
            cap = point_epochs(p.argv)
            row["est. CPU h at the epoch cap"] = per_epoch * cap / 3600
            if typical_epochs is not None:
                row["est. CPU h, typical stop"] = per_epoch * typical_epochs / 3600
        rows.append(row)
    table = pd.DataFrame(rows)
    estimates = ["est. CPU h at the epoch cap"] + (["est. CPU h, typical stop"] if typical_epochs is not None else [])
    for column in [f"test {metric}", "test ndcg@50", f"valid {metric}", "best epoch", *estimates]:
        if column not in table:  # every point run (or none): the column still exists, empty
            table[column] = float("nan")
    return int_columns(table, ["best epoch"])


def inha_table(ours: Mapping[str, dict], metric: str = "ndcg@50") -> pd.DataFrame:
    """The Inha AI Challenge entry's NDCG@50 (:data:`mmrs.data.published.INHA_NDCG50`) beside
    ours (test ``metric`` of the validation-selected record per model in ``ours``, NaN where a
    model has none), each also as a fraction of BM3's in the same comparison, and the ranks."""
    rows = {}
    for model, value in INHA_NDCG50.items():
        record = ours.get(model)
        rows[MODEL_LABELS[model]] = {
            "Inha entry NDCG@50": value,
            "ours NDCG@50": record["metrics"]["test"][metric] if record else float("nan"),
        }
    table = pd.DataFrame(rows).T
    for col in ("Inha entry NDCG@50", "ours NDCG@50"):
        table[col.replace("NDCG@50", "÷ BM3")] = table[col] / table.loc["BM3", col]
    table["Inha entry rank"] = table["Inha entry NDCG@50"].rank(ascending=False)
    table["our rank"] = table["ours NDCG@50"].rank(ascending=False)
    return table


def mmrec_ordering(ours: Mapping[str, dict], metric: str = "recall@20") -> pd.DataFrame:
    """MMRec's published Baby ``metric`` (:data:`mmrs.data.published.MMREC_BABY`) beside ours on
    the simulated data (test, validation-selected; NaN where a model has no record), with the
    rank of each among the models both have; Kendall's τ between the two orderings (and its
    number of models) in ``attrs`` (NaN with fewer than three models)."""
    rows = {MODEL_LABELS[m]: {f"MMRec Baby {metric}": pub[metric],
                              f"ours {metric}": ours[m]["metrics"]["test"][metric] if m in ours else float("nan")}
            for m, pub in MMREC_BABY.items()}
    table = pd.DataFrame(rows).T
    both = table.dropna()
    table["MMRec rank"] = both[f"MMRec Baby {metric}"].rank(ascending=False)
    table["our rank"] = both[f"ours {metric}"].rank(ascending=False)
    tau = float(stats.kendalltau(both.iloc[:, 0], both.iloc[:, 1]).statistic) if len(both) >= 3 else float("nan")
    table.attrs["kendall_tau"] = tau
    table.attrs["n_models"] = len(both)
    return table


def new_model_points(models: Iterable[str] = (*NEW_MODELS, "buir")) -> list[Any]:
    """The declared points (``mmrs.experiments.Point``) of every experiment that train one of
    ``models``, run or not (BUIR's are Amazon Baby and Sports points of ``baselines``)."""
    from ..experiments import all_points

    wanted = set(models)
    return [p for _, p in all_points() if "--model" in p.argv and point_model(p.argv) in wanted]


def load_point_records(points: Iterable[Any]) -> dict[str, dict]:
    """Record path -> record for the ``points`` whose record exists (under ``book/results``,
    found as :func:`mmrs.chapters.tables.find_record_file` finds it); points without one are
    left out (their ``planned`` flag says they are declared but not run yet)."""
    out = {}
    for p in points:
        name = p.record.removeprefix("book/results/")
        path = find_record_file(name, "book")
        if path.is_file():
            out[p.record] = {**read_record_file(path, " ".join(p.command())), "_file": name}
    return out


PROPAGATION_LABELS: dict[str, str] = {
    "mean": "MMGCN: mean aggregation (1 layer)",
    "norm2": "DualGNN: normalised sum, 2 layers",
    "attention": "GRCN: edge-softmax attention",
    "weighted2": "GRCN: weighted sum, 2 layers",
}


def propagation_table(record: Mapping[str, Any]) -> pd.DataFrame:
    """The propagation layers alone, ours vs MMRec's PyG ``MessagePassing`` layers (CPU seconds
    of forward + backward, ratio ours / PyG), from a ``bench_lattice_grcn.py`` record."""
    rows = {PROPAGATION_LABELS.get(k, k): {"ours CPU s": v["ours_cpu_s"], "PyG CPU s": v["pyg_cpu_s"],
                                           "ours / PyG": v["ratio"]}
            for k, v in record["body"].get("propagations", {}).items()}
    return pd.DataFrame(rows).T
