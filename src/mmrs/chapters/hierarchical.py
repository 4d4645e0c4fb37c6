"""Tables of Chapter 6 from an evaluation dict (live run) or a results record (JSON)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..hierarchical.decomposition import PARTS, gain_decomposition
from .seed_tables import mean_sd, paired_interval, t_interval, verdict
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
    """Variants × (P@K, MAP@K, NDCG@K, exact R@K, exact MRR, graded NDCG@K) for one level
    (``ks=(10,)`` gives a table narrow enough for a page)."""
    names = {"precision": "P", "map": "MAP", "ndcg": "NDCG", "exact_recall": "R_exact",
             "exact_mrr": "MRR_exact", "graded_ndcg": "gNDCG"}
    frame = pd.DataFrame(result["metrics"]).T
    cols = [f"{m}@{k}" if m != "exact_mrr" else m for m in names for k in ks]
    cols = [c for c in dict.fromkeys(cols) if c in frame]
    frame = frame[cols].rename(columns=lambda c: names[c.split("@")[0]] + c[len(c.split("@")[0]):])
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


def bucket_frame(result: dict, metric: str = "P") -> pd.DataFrame:
    """Per category-size bucket: queries, share with an own stage-2 head, the four variants'
    ``metric`` (``"P"``: P@k, ``"MRR_exact"``, ``"gNDCG"``) and the cascade's gain (%p) with its
    three parts, which sum to it."""
    frame = pd.DataFrame(result["buckets"]).set_index("bucket")
    prefix = "" if metric == "P" else f"{metric} "
    values = [c for c in frame if c.split(" ")[-1].startswith(metric) and "_pp" not in c]
    parts = [f"{prefix}{p}_pp" for p in ("gain", "reduction", "extra_training", "specialisation")]
    out = frame[["n_queries", "has_own_head", *values, *parts]]
    return out.rename(columns={c: c[len(prefix):] for c in parts})


def signed(x: float, unit: str = " %p", digits: int = 1) -> str:
    """``x`` with its sign and unit, e.g. ``+1.2 %p`` (for glued prose)."""
    return f"{x:+.{digits}f}{unit}"


def direction(x: float, up: str = "raises", down: str = "lowers") -> str:
    """The verb of a glued sentence about a signed quantity ``x``."""
    return up if x >= 0 else down


def decomposition_frame(results: dict[str, dict], metric: str = "mean") -> pd.DataFrame:
    """Split the cascade's gain (%p) into its parts, per routing level
    (:func:`mmrs.hierarchical.gain_decomposition`).

    reduction       = flat | predicted  − flat               (smaller search space, same heads)
    extra training  = flat+ | predicted − flat | predicted   (heads trained as long as stage 2)
    specialisation  = cascade | predicted − flat+ | predicted (in-category negatives only)
    total           = cascade | predicted − flat (the three sum to it exactly)

    ``metric``: ``"mean"`` (the mean gain over P, MAP, NDCG at every K — attribute relevance) or a
    key of ``gain_pp`` such as ``"exact_mrr"`` or ``"graded_ndcg@10"``.
    """
    rows = {}
    for level, result in results.items():
        g = result["mean_gain_pp"] if metric == "mean" else {
            v: gains[metric] for v, gains in result["gain_pp"].items()}
        parts = gain_decomposition(g)
        rows[level] = {**{p: parts[p] for p in PARTS},
                       "total (cascade | predicted)": parts["total"],
                       "oracle (cascade | true)": g["cascade | true"] - g["flat"]}
    frame = pd.DataFrame(rows).T
    if metric == "mean":
        frame["paper"] = sum(PAPER_GAIN_PP) / 2
    return frame


RELEVANCES: dict[str, tuple[str, str]] = {
    "attribute": ("mean", "P/MAP/NDCG"),
    "exact product": ("exact_mrr", "MRR"),
    "graded, router-blind": ("graded_ndcg@10", "gNDCG@10"),
}
"""The chapter's three relevances: ``{name: (metric key, short label)}`` — attribute: the mean
of P, MAP and NDCG at K = 5, 10, 20 (same articleType, gender, baseColour); exact product: MRR of
the own photo; graded: NDCG@10 with gains over gender, baseColour, season and usage."""


def relevance_frame(result: dict) -> pd.DataFrame:
    """One row per relevance: the metric, flat's value and the gain (%p) of the routed variants
    over flat, and the decomposition of the cascade's gain."""
    rows = {}
    variants = ("flat | predicted", "cascade | predicted", "cascade | true")
    for name, (metric, what) in RELEVANCES.items():
        if metric == "mean":
            flat = sum(result["metrics"]["flat"][f"{m}@{k}"] for m in ("precision", "map", "ndcg")
                       for k in (5, 10, 20)) / 9
            gains = result["mean_gain_pp"]
        else:
            flat = result["metrics"]["flat"][metric]
            gains = {v: g[metric] for v, g in result["gain_pp"].items()}
        parts = gain_decomposition(gains)
        rows[name] = {"metric": what, "flat": flat, **{v: gains[v] for v in variants},
                      **{p: parts[p] for p in PARTS}}
    return pd.DataFrame(rows).T


def record_summary(record: dict) -> dict[str, float | int | str]:
    """The numbers (and signed strings / verdict words) Chapter 6's prose quotes from one record.

    Keys: sizes (``products``, ``types``, ``subcats``, ``queries``, ``gallery``, ``epochs``);
    at the articleType level the mean attribute gain and its parts as signed strings
    (``gain_s``, ``reduction_s``, ``extra_s``, ``special_s``; ``sub_gain_s`` at subCategory);
    the exact-product MRR (``mrr_flat``, ``mrr_gain_s`` and its parts, ``mrr_largest``: the
    largest part's name) and graded NDCG@10 (``gndcg_flat``, ``graded_gain_s``,
    ``graded_reduction_s``, ``graded_verdict``: "survives" or "does not survive", whether routing
    helps under it); stage-1 ``router_top1`` (%), candidates (``cand``, ``cand_pct``) and the
    latency table's ``flat_ms``, ``cascade_ms`` and ``speedup_x``.
    """
    sizes_ = record["dataset"]["sizes"]
    levels = record["metrics"]["levels"]
    at = levels["articleType"]
    dec = at["decomposition_pp"]
    lat = record["metrics"]["latency"]
    out: dict[str, float | int | str] = {
        "products": sizes_["sampled_products"], "queries": sizes_["queries"],
        "gallery": sizes_["gallery"], "epochs": record["config"]["epochs"],
        "types": at["n_categories"], "subcats": levels["subCategory"]["n_categories"],
        "sub_gain_s": signed(levels["subCategory"]["decomposition_pp"]["mean"]["total"]),
        "router_top1": 100 * at["stage1"]["top1"],
        "cand": at["candidates"]["cascade | predicted"],
        "cand_pct": 100 * at["candidates"]["cascade | predicted"] / sizes_["gallery"],
        "flat_ms": lat["flat"]["median_us"] / 1000,
        "cascade_ms": lat["cascade | predicted"]["median_us"] / 1000,
        "speedup_x": lat["flat"]["median_us"] / lat["cascade | predicted"]["median_us"],
        "mrr_flat": at["metrics"]["flat"]["exact_mrr"],
        "gndcg_flat": at["metrics"]["flat"]["graded_ndcg@10"],
    }
    for tag, metric in (("", "mean"), ("mrr_", "exact_mrr"), ("graded_", "graded_ndcg@10")):
        parts = dec[metric]
        out[f"{tag}gain_s"] = signed(parts["total"])
        out[f"{tag}reduction_s"] = signed(parts["reduction"])
        out[f"{tag}extra_s"] = signed(parts["extra training"])
        out[f"{tag}special_s"] = signed(parts["specialisation"])
        out[f"{tag}largest"] = max(PARTS, key=lambda p, parts=parts: abs(parts[p]))
    out["graded_verdict"] = "survives" if dec["graded_ndcg@10"]["total"] > 0 else "does not survive"
    return out


def latency_frame(latency: dict) -> pd.DataFrame:
    """Median µs per query, candidates scored and the ratio to flat, one row per variant."""
    return pd.DataFrame({k: v for k, v in latency.items() if isinstance(v, dict)}).T


SEED_QUANTITIES = ("gain", *PARTS)
"""The %p quantities of :func:`seed_frame` that get a seed interval: the cascade's gain over flat
and its three parts (reduction, extra training, specialisation)."""


def seed_runs(main: dict, folder: str | Path | None = None) -> list[dict]:
    """``main`` and the ``hierarchical`` records under ``<folder>/seeds/`` (default: the
    ``book/results`` of :func:`mmrs.records.results_folder`) made with the same settings (the
    whole ``config`` but the seed), ordered by seed. Raises ``ValueError`` on a repeated seed or
    when no other seed matches."""
    from .seed_tables import same_setting_seed_runs

    return same_setting_seed_runs(
        main, "hierarchical", lambda r: r["config"], lambda r: r["seeds"]["model"], folder,
        missing=f"no other-seed record with the settings of '{main['command']}'; make them with "
                "the hierarchical experiment's full-s<seed> points "
                "(python -m mmrs.experiments.hierarchical --seed N)",
        repeated="two hierarchical records share a seed: {seeds}",
    )


def seed_frame(runs: list[dict], levels=("articleType", "subCategory")) -> pd.DataFrame:
    """One row per (level, relevance, seed): flat's value, the cascade's (``cascade | predicted``
    = flat + gain / 100), the gain in %p and its three parts (:func:`relevance_frame`)."""
    rows = {}
    for r in runs:
        for level in levels:
            frame = relevance_frame(r["metrics"]["levels"][level])
            for name, row in frame.iterrows():
                rows[(level, name, r["seeds"]["model"])] = {
                    "flat": row["flat"], "cascade": row["flat"] + row["cascade | predicted"] / 100,
                    "gain": row["cascade | predicted"], **{p: row[p] for p in PARTS}}
    out = pd.DataFrame(rows).T.astype(float)
    out.index.names = ["level", "relevance", "seed"]
    return out


def seed_interval_frame(per_seed: pd.DataFrame) -> pd.DataFrame:
    """From :func:`seed_frame`: per (level, relevance) and quantity, the per-seed values, mean,
    sd (ddof 1) and, for the %p quantities, the seed-paired t-interval (95 %) and its
    :func:`mmrs.chapters.seed_tables.verdict`. The gain's interval is that of
    ``cascade − flat`` paired by seed; the parts' are those of their per-seed values."""
    out = {}
    for (level, name), block in per_seed.groupby(level=["level", "relevance"], sort=False):
        block = block.droplevel(["level", "relevance"])
        for q in ("flat", "cascade", *SEED_QUANTITIES):
            values = block[q].to_dict()
            row = {f"seed {s}": v for s, v in values.items()}
            if q == "gain":
                iv = paired_interval((100 * block["cascade"]).to_dict(), (100 * block["flat"]).to_dict())
            elif q in PARTS:
                iv = t_interval(list(values.values()))
            else:
                iv = None
            row.update({k: v for k, v in mean_sd(list(values.values())).items() if k != "n"}
                       if iv is None else {k: iv[k] for k in ("mean", "sd", "low", "high")})
            row["verdict"] = verdict(iv) if iv is not None else ""
            out[(level, name, q)] = row
    frame = pd.DataFrame(out).T
    frame.index.names = ["level", "relevance", "quantity"]
    return frame[[c for c in frame if c != "verdict"] + ["verdict"]]
