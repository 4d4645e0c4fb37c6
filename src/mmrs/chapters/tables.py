"""Training records (:mod:`mmrs.records`, kind ``train``) as tables for the chapters.

A chapter never types a result: it loads the records under ``book/results`` (written by the
command stored in each record) and shows them beside the published reference numbers in
:data:`MMREC_REFERENCE`, which are *inputs* quoted with their source.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .. import records as rec
from .seed_tables import mean_sd, paired_interval, survives

MMREC_REFERENCE: dict[tuple[str, str], dict[str, float]] = {
    ("amazon-baby", "bpr"): {"recall@20": 0.0575, "ndcg@20": 0.0249},
    ("amazon-baby", "lightgcn"): {"recall@20": 0.0754, "ndcg@20": 0.0328},
    ("amazon-sports", "bpr"): {"recall@20": 0.0653, "ndcg@20": 0.0298},
    ("amazon-sports", "lightgcn"): {"recall@20": 0.0864, "ndcg@20": 0.0387},
}
"""MMRec's published full-ranking results (R@20, N@20; BM3 paper Table 3 / MMRec), test-selected."""


def int_columns(frame: pd.DataFrame, columns: list[str] | tuple[str, ...]) -> pd.DataFrame:
    """A copy of ``frame`` with the count ``columns`` as integers, for display.

    Chapters set ``pd.options.display.float_format`` for metrics; a count stored as a float (a
    concatenation or a transpose upcasts it) would otherwise print as ``118,551.0000``. Columns
    with missing values become pandas' nullable ``Int64``; absent columns are ignored.
    """
    out = frame.copy()
    for c in columns:
        if c in out:
            out[c] = out[c].round().astype("Int64" if out[c].isna().any() else "int64")
    return out


def load_all_records(folder: str | Path | None = None) -> list[dict]:
    """Every training run under ``folder`` (default: the ``book/results`` that
    :func:`mmrs.records.results_folder` finds) and its sub-folders (``grid/`` holds the other
    points of a grid search): ``train`` records, and the runs of ``train-set`` records (see
    :func:`mmrs.records.flatten_runs`). Each has ``_file`` (relative path)."""
    folder = Path(folder) if folder is not None else rec.results_folder("book")
    return [r for r in rec.flatten_runs(rec.load_folder(folder))
            if "#" not in r["_file"] and not r["_file"].startswith("seeds/")]


def load_seed_records(folder: str | Path | None = None) -> list[dict]:
    """The other-seed runs under ``<folder>/seeds/`` (default: the ``book/results`` that
    :func:`mmrs.records.results_folder` finds). They are never part of
    :func:`load_all_records`, so a seed can never be *selected*: seeds measure variance only."""
    folder = Path(folder) if folder is not None else rec.results_folder("book")
    seeds = folder / "seeds"
    return [] if not seeds.is_dir() else [
        {**r, "_file": f"seeds/{r['_file']}"} for r in rec.flatten_runs(rec.load_folder(seeds))
    ]


def _setting(record: dict) -> str:
    """A record's model settings as one comparable string (everything but the seed)."""
    return json.dumps(record["config"]["model"], sort_keys=True)


def _same_setting(run: dict, selected: dict) -> bool:
    """Same dataset, model, model settings and epoch budget (seeds not compared)."""
    return (run["dataset"]["name"] == selected["dataset"]["name"]
            and run["model"] == selected["model"] and _setting(run) == _setting(selected)
            and run["config"]["train"]["max_epochs"] == selected["config"]["train"]["max_epochs"])


def same_setting_runs(selected: dict, seeds: list[dict]) -> list[dict]:
    """``selected`` and the runs in ``seeds`` with the same dataset, split seed, model, model
    settings and epoch budget but another model seed, ordered by seed. Raises ``ValueError`` if
    two runs share a seed (a duplicate would count one seed twice). Runs on another split
    (``--split-seed``) are never mixed in: they measure another source of variation."""
    split = selected["seeds"].get("split")
    runs = [selected] + [
        r for r in seeds if _same_setting(r, selected) and r["seeds"].get("split") == split
    ]
    seen = [r["seeds"]["model"] for r in runs]
    if len(seen) != len(set(seen)):
        raise ValueError(f"two runs of {selected['model']} share a model seed: {sorted(seen)}")
    return sorted(runs, key=lambda r: r["seeds"]["model"])


def other_split_runs(selected: dict, seeds: list[dict]) -> list[dict]:
    """The runs in ``seeds`` with ``selected``'s dataset, model, model settings, epoch budget and
    model seed but **another split seed** (``mmrs train --split-seed``), ordered by split seed:
    the variation that comes from which interactions land in validation and test."""
    return sorted((
        r for r in seeds
        if _same_setting(r, selected) and r["seeds"]["model"] == selected["seeds"]["model"]
        and r["seeds"].get("split") != selected["seeds"].get("split")
    ), key=lambda r: r["seeds"].get("split", 0))


def seed_summary(runs: list[dict], metric: str = "recall@20", split: str = "test") -> dict:
    """Mean and sample standard deviation (ddof 1) of ``split`` ``metric`` over ``runs`` (one per
    seed), with the seeds and the values."""
    values = [float(r["metrics"][split][metric]) for r in runs]
    return {**mean_sd(values), "seeds": [r["seeds"]["model"] for r in runs], "values": values}


def paired_difference(a: list[dict], b: list[dict], metric: str = "recall@20",
                      split: str = "test", level: float = 0.95) -> dict:
    """Seed-paired difference ``a - b`` of ``split`` ``metric``: the runs are matched by model
    seed (the split is the same), and the interval is Student's t with ``n - 1`` degrees of
    freedom, ``mean ± t_{(1+level)/2, n-1} · sd / sqrt(n)``. Raises ``ValueError`` when the two
    sets do not have the same seeds or fewer than two pairs."""
    by_a = {r["seeds"]["model"]: r["metrics"][split][metric] for r in a}
    by_b = {r["seeds"]["model"]: r["metrics"][split][metric] for r in b}
    out = paired_interval(by_a, by_b, level)  # (mmrs.chapters.seed_tables)
    return {**out, "relative": out["mean"] / float(np.mean(list(by_b.values())))}


def seed_table(groups: dict[str, list[dict]], metrics: tuple[str, ...] = ("recall@20", "ndcg@20"),
               split: str = "test") -> pd.DataFrame:
    """One row ``"<name> <metric>"`` per group and metric: :func:`seed_summary`'s ``n``, ``mean``,
    ``sd``, ``seeds`` and ``values`` (``groups``: ``{name: runs, one per seed}``)."""
    return pd.DataFrame({f"{name} {metric}": seed_summary(runs, metric, split)
                         for name, runs in groups.items() for metric in metrics}
                        ).T[["n", "mean", "sd", "seeds", "values"]]


def paired_table(a: list[dict], b: list[dict], a_name: str, b_name: str,
                 metrics: tuple[str, ...] = ("recall@20", "ndcg@20"),
                 split: str = "test") -> tuple[pd.DataFrame, dict[str, dict]]:
    """:func:`paired_difference` ``a - b`` for each metric: a table (one row per metric; columns
    ``n``, ``"<a_name> − <b_name>"`` (the mean difference), the 95 % bounds and
    ``"relative to <b_name>"``) and the intervals themselves, keyed by metric, for the prose."""
    paired = {m: paired_difference(a, b, m, split) for m in metrics}
    frame = pd.DataFrame(paired).T[["n", "mean", "low", "high", "relative"]].rename(columns={
        "mean": f"{a_name} − {b_name}", "low": "95 % low", "high": "95 % high",
        "relative": f"relative to {b_name}"})
    return frame, paired


def ablation_seed_table(reference: list[dict], variants: dict[str, list[dict]],
                        metric: str = "recall@20", split: str = "test",
                        ) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Each ablation against the full model over seeds: a table with one row per variant (the
    variant's ``mean`` and ``sd`` of ``split`` ``metric``; the seed-paired cost of the ablation
    ``full − variant`` with its ``sd`` and 95 % ``low``/``high``, :func:`paired_difference`; the
    lowest seed's cost, ``first-seed cost`` at seed ``first seed``, which is the single-seed
    number a chapter quoted; and ``verdict``, :func:`~mmrs.chapters.seed_tables.survives` of that
    first-seed sign, e.g. ``"is not resolved"``) and the cost intervals themselves, keyed by
    variant, for the prose and :func:`mmrs.chapters.bm3.plot_ablation_seeds`. ``reference`` and
    each variant: one run per seed, the same seeds (``ValueError`` otherwise)."""
    costs = {name: paired_difference(reference, runs, metric, split) for name, runs in variants.items()}
    rows = {}
    for name, cost in costs.items():
        summary = seed_summary(variants[name], metric, split)
        rows[name] = {"n": cost["n"], "mean": summary["mean"], "sd": summary["sd"],
                      "cost": cost["mean"], "cost sd": cost["sd"], "95 % low": cost["low"],
                      "95 % high": cost["high"], "first seed": cost["seeds"][0],
                      "first-seed cost": cost["differences"][0],
                      "verdict": survives(cost, cost["differences"][0])}
    return pd.DataFrame(rows).T, costs


def select_by_validation(records: list[dict], metric: str = "recall@20") -> list[dict]:
    """One record per (dataset, model): the grid point with the highest **validation** ``metric``.

    Ties go to the record whose file name sorts first, so the choice is deterministic. The test
    metrics of the other points are never looked at (MMRec instead picks the best *test* point).
    Records of variants (ablations, collapse demonstrations) should not be mixed in: select per
    (dataset, model) among runs of the same method only.
    """
    best: dict[tuple[str, str], dict] = {}
    for r in sorted(records, key=lambda r: r.get("_file", "")):
        key = (r["dataset"]["name"], r["model"])
        if key not in best or r["metrics"]["valid"][metric] > best[key]["metrics"]["valid"][metric]:
            best[key] = r
    return list(best.values())


def _varying_hparams(records: list[dict]) -> dict[tuple[str, str], list[str]]:
    """Per (dataset, model): the model hyper-parameters whose values differ between its records."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["dataset"]["name"], r["model"]), []).append(r["config"]["model"])
    out = {}
    for key, cfgs in groups.items():
        keys = list(dict.fromkeys(k for c in cfgs for k in c))
        out[key] = [k for k in keys if len({json.dumps(c.get(k), sort_keys=True) for c in cfgs}) > 1]
    return out


def grid_table(records: list[dict], metric: str = "recall@20") -> pd.DataFrame:
    """Every grid point of every (dataset, model): the hyper-parameters that vary within that
    (dataset, model) (all of them for a single point), validation and
    test ``metric``, best epoch, and ``selected`` (highest validation ``metric``, as
    :func:`select_by_validation`). Sorted by dataset, model, validation metric (best first)."""
    chosen = {id(r) for r in select_by_validation(records, metric)}
    varying = _varying_hparams(records)
    rows = []
    for r in records:
        model_cfg = {k: v for k, v in r["config"]["model"].items() if k != "squared_reg"}
        shown = varying[(r["dataset"]["name"], r["model"])] or list(model_cfg)
        rows.append(
            {
                "dataset": r["dataset"]["name"],
                "model": r["model"],
                "hparams": ", ".join(f"{k}={model_cfg[k]}" for k in shown if k in model_cfg),
                f"valid {metric}": r["metrics"]["valid"][metric],
                f"test {metric}": r["metrics"]["test"][metric],
                "best epoch": r["body"]["best_epoch"],
                "epochs run": r["body"]["epochs_run"],
                "selected": id(r) in chosen,
                "file": r.get("_file", ""),
            }
        )
    table = pd.DataFrame(rows)
    if len(table):
        table = table.sort_values(["dataset", "model", f"valid {metric}"], ascending=[True, True, False])
    return table.reset_index(drop=True)


def records_table(records: list[dict], metrics: tuple[str, ...] = ("recall@20", "ndcg@20")) -> pd.DataFrame:
    """One row per record: test (and valid) metrics, best epoch, timings, hyper-parameters, command."""
    rows = []
    for r in records:
        model_cfg = r["config"]["model"]
        body, timings = r["body"], r["timings"]
        row = {"dataset": r["dataset"]["name"], "model": r["model"]}
        row.update({f"test {m}": r["metrics"]["test"][m] for m in metrics})
        row.update({f"valid {m}": r["metrics"]["valid"][m] for m in metrics})
        row.update(
            {
                "best epoch": body["best_epoch"],
                "epochs run": body["epochs_run"],
                "stopped early": body["stopped_early"],
                "train s/epoch": timings["train_s_per_epoch"],
                "eval s": timings["eval_s_per_epoch"],
                "peak RSS MiB": r["peak_rss_mb"],
                "hparams": ", ".join(f"{k}={v}" for k, v in model_cfg.items() if k != "squared_reg"),
                "seed": r["seeds"]["model"],
                "git": (r["git"]["revision"] or "")[:8],
                "command": r["command"],
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def replication_table(records: list[dict]) -> pd.DataFrame:
    """Our test R@20/N@20 beside MMRec's, with the ratio ours / reference (target >= 0.95)."""
    rows = []
    for r in records:
        ref = MMREC_REFERENCE.get((r["dataset"]["name"], r["model"]))
        if ref is None:
            continue
        row = {"dataset": r["dataset"]["name"], "model": r["model"]}
        for m in ("recall@20", "ndcg@20"):
            row[f"ours {m}"] = r["metrics"]["test"][m]
            row[f"MMRec {m}"] = ref[m]
            row[f"ratio {m}"] = r["metrics"]["test"][m] / ref[m]
        row["best epoch"] = r["body"]["best_epoch"]
        row["command"] = r["command"]
        rows.append(row)
    return pd.DataFrame(rows)


def find_record_file(name: str, folder: str = "book") -> Path:
    """The path of record ``name`` in ``<folder>/results`` (:func:`mmrs.records.find`); a missing
    record gives the path where a checkout would keep it, so the caller's message can name it."""
    try:
        return rec.find(name, folder)
    except FileNotFoundError:
        return rec.search_folders(folder)[0] / name


def read_record_file(path: Path, make_it: str) -> dict:
    """A validated record (:func:`mmrs.records.load`); a missing file raises
    ``FileNotFoundError`` naming ``make_it``."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no results record. Make it with: {make_it}")
    return rec.load(path)


# ------------------------------------------------------------------ equal tuning budgets


def expected_best_of_k(valid: list[float] | np.ndarray, test: list[float] | np.ndarray,
                       k: int) -> float:
    """Expected test metric of the validation-best point among ``k`` of a grid's ``N`` points
    drawn uniformly **without replacement** (the "expected validation performance" idea of
    Dodge et al. 2019, *Show your work*, reported on test): exact, not sampled.

    Rank the points by validation metric, best first (``r = 1..N``). Point ``r`` is the best of a
    ``k``-subset iff it is in the subset and the other ``k - 1`` come from the ``N - r`` points
    ranked below it, so::

        P(r) = C(N - r, k - 1) / C(N, k),        E_k = sum_r P(r) · test_r

    ``k = N`` gives the validation-selected point's test value, ``k = 1`` the mean over the grid.
    Points tied on validation share the mean of their test values (a tie broken uniformly at
    random picks each of them equally often). Raises ``ValueError`` unless ``1 <= k <= N``.
    """
    from math import comb

    v = np.asarray(valid, dtype=float)
    t = np.asarray(test, dtype=float)
    n = len(v)
    if len(t) != n:
        raise ValueError(f"{n} validation values but {len(t)} test values")
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}] for a grid of {n} points, got {k}")
    order = np.argsort(-v, kind="stable")
    v, t = v[order], t[order]
    tied = np.array([t[v == x].mean() for x in v])
    total = comb(n, k)
    return float(sum(comb(n - r, k - 1) * tied[r - 1] for r in range(1, n + 1)) / total)


def equal_budget_k(sizes: dict[str, int], minimum: int = 3) -> int | None:
    """The common budget: the smallest grid size ``>= minimum`` among ``sizes`` (model -> number of
    grid points); ``None`` when no model has ``minimum`` points."""
    big = [n for n in sizes.values() if n >= minimum]
    return min(big) if big else None


def equal_budget_table(grids: dict[str, list[dict]], metric: str = "recall@20",
                       k: int | None = None, minimum: int = 3) -> pd.DataFrame:
    """Every model at the same tuning budget: one row per model (``grids``: label -> its grid's
    training records), with its number of grid points, the expected test ``metric`` of a single
    point (the grid's mean: the budget every model has), that of the point validation selects
    among all of them, and :func:`expected_best_of_k` at the common budget
    ``k`` (default :func:`equal_budget_k` with ``minimum``). A model with fewer than ``k`` points
    has no value at ``k``; the ``note`` column says so. Points with the same model settings count
    once. ``attrs["k"]`` holds the budget."""
    sizes = {}
    unique: dict[str, list[dict]] = {}
    for label, runs in grids.items():
        seen: dict[str, dict] = {}
        for r in sorted(runs, key=lambda r: r.get("_file", "")):
            seen.setdefault(_setting(r), r)
        unique[label] = list(seen.values())
        sizes[label] = len(unique[label])
    budget = k if k is not None else equal_budget_k(sizes, minimum)
    rows = []
    for label, runs in unique.items():
        if not runs:
            continue
        valid = [r["metrics"]["valid"][metric] for r in runs]
        test = [r["metrics"]["test"][metric] for r in runs]
        n = len(runs)
        at_k = (expected_best_of_k(valid, test, budget)
                if budget is not None and n >= budget else float("nan"))
        note = "" if budget is not None and n >= budget else (
            f"only {n} point{'s' if n > 1 else ''}: no value at k = {budget}" if budget is not None
            else f"only {n} point{'s' if n > 1 else ''}")
        rows.append({"model": label, "grid points": n,
                     f"test {metric}, one point (grid mean)": expected_best_of_k(valid, test, 1),
                     f"test {metric}, best of all points": expected_best_of_k(valid, test, n),
                     f"test {metric}, expected best of k": at_k, "note": note})
    table = pd.DataFrame(rows).set_index("model") if rows else pd.DataFrame()
    table.attrs["k"] = budget
    return table


def valid_at_epoch(runs: dict, metric: str = "recall@20", epoch: int | None = None) -> pd.DataFrame:
    """Runs compared like with like: each run's validation ``metric`` at the same ``epoch``
    (default: the last epoch every run reached, ``min(epochs_run)``), read from the per-epoch
    history, beside its own best epoch and the test ``metric`` of its restored best epoch (which
    differs between runs and so compares different training lengths). One row per key of
    ``runs`` (label -> training record)."""
    if epoch is None:
        epoch = min(r["body"]["epochs_run"] for r in runs.values())
    rows = {}
    for label, r in runs.items():
        history = {h["epoch"]: h for h in r["body"]["history"]}
        if epoch not in history:
            raise ValueError(f"run {label!r} has no epoch {epoch} (it ran {r['body']['epochs_run']})")
        best = r["body"]["best_epoch"]
        rows[label] = {"epoch": epoch, f"valid {metric} at epoch": history[epoch][metric],
                       "best epoch": best, f"valid {metric} at best epoch": history[best][metric],
                       f"test {metric}, best epoch restored": r["metrics"]["test"][metric]}
    return int_columns(pd.DataFrame(rows).T, ("epoch", "best epoch"))


def lightgcn_pyg_table(name: str = "lightgcn_vs_pyg.json") -> pd.DataFrame:
    """The LightGCN speed benchmark (``benchmarks/bench_lightgcn.py``) as a table: per
    implementation (``mmrs``, PyG), the median training seconds per epoch, the best evaluation
    seconds (all users, top 50) and the first-batch and last-epoch losses (equal losses: the same
    computation). ``attrs`` holds the ratios PyG / mmrs, the dataset, the settings and the
    command. A missing record raises ``FileNotFoundError`` naming the command."""
    path = find_record_file(name, "benchmarks")
    record = read_record_file(path, "python benchmarks/bench_lightgcn.py --torch-threads 1")
    body = record["body"]
    table = pd.DataFrame({
        impl: {"train s/epoch (median)": body["train_seconds_per_epoch_median"][impl],
               "eval s (best)": body["eval_seconds_best"][impl],
               "first-batch loss": body["first_batch_loss"][impl],
               "last-epoch loss": body["epoch_losses"][impl][-1]}
        for impl in ("mmrs", "pyg")
    }).T.rename(index={"pyg": "PyG"})
    table.attrs.update(train_ratio=body["train_ratio_pyg_over_mmrs"],
                       eval_ratio=body["eval_ratio_pyg_over_mmrs"],
                       dataset=record["dataset"]["name"], settings=record["config"]["settings"],
                       threads=record["machine"]["torch_threads"], command=record["command"])
    return table
