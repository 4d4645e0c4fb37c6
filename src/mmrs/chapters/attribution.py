"""Tables and figures of Chapter 8 (which factor, in which modality?), read from an
``attribution`` record (:mod:`mmrs.experiments.markets`): the live ci run or the full record."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..data.markets import GROUPS, MARKETS, planted_group_weights
from ..experiments.markets import METHODS

SHARE_METHODS: tuple[str, ...] = METHODS[:4]
"""Methods that give a share per input group (modality ablation gives one per modality)."""


def planted_table(markets: dict[str, dict[str, float]] | None = None) -> pd.DataFrame:
    """The planted utility weights ``β_f`` per market (rows: factors) and where each factor is
    visible."""
    markets = markets or MARKETS
    table = pd.DataFrame(markets)
    where = {"gender": "title words and photo", "article": "title words and photo",
             "colour": "photo only (colour words removed from titles)", "usage": "photo (off)",
             "brand": "title only (first word)"}
    table["visible in"] = [where[f] for f in table.index]
    table.index.name = "factor"
    return table


def accuracy_table(record: dict[str, Any]) -> pd.DataFrame:
    """Test Recall@20 and NDCG@20 (mean over model seeds) of both models per market, and the
    transformer's gain in Recall@20 per seed."""
    rows = {}
    for market, s in record["metrics"]["markets"].items():
        rows[market] = {
            "transformer R@20": s["transformer_recall@20"], "mean fusion R@20": s["mean_recall@20"],
            "transformer N@20": s["transformer_ndcg@20"], "mean fusion N@20": s["mean_ndcg@20"],
            "gain R@20 (mean)": s["gain_recall@20"]["mean"],
            "gain R@20 per seed": ", ".join(f"{g:+.4f}" for g in s["gain_recall@20"]["per_seed"]),
        }
    out = pd.DataFrame(rows).T
    out.index.name = "market"
    return out


def shares_table(record: dict[str, Any], market: str, model: str = "transformer") -> pd.DataFrame:
    """Group shares of every share-giving method for ``market`` (rows), the planted weights as
    shares in the last row, and each method's Spearman ρ / Kendall τ with the planted weights."""
    methods = record["metrics"]["markets"][market][f"{model}_methods"]
    rows = {m: {**methods[m]["shares"], "Spearman ρ": methods[m]["spearman"],
                "Kendall τ": methods[m]["kendall"]} for m in SHARE_METHODS if m in methods}
    planted = record["body"]["planted"]["group_weights"][market]
    total = sum(planted.values())
    rows["planted (as shares)"] = {g: planted[g] / total for g in GROUPS}
    out = pd.DataFrame(rows).T
    out.index.name = f"{market}: {model}"
    return out


def agreement_table(record: dict[str, Any], model: str = "transformer") -> pd.DataFrame:
    """Spearman ρ between each method's group importances and the planted weights (rows:
    methods, columns: markets)."""
    out = {market: {m: s[f"{model}_methods"][m]["spearman"] for m in SHARE_METHODS
                    if m in s[f"{model}_methods"]}
           for market, s in record["metrics"]["markets"].items()}
    table = pd.DataFrame(out)
    table.index.name = f"Spearman ρ with the planted weights ({model})"
    return table


def differences_table(record: dict[str, Any]) -> pd.DataFrame:
    """Per method: share(names) − share(looks) of the brand words and of the photo (for
    modality ablation: of all text and of the photo), next to the planted difference, and
    whether both signs match."""
    diff = record["metrics"]["differences"]
    rows = {"planted (weights)": {"brand Δ": diff["planted"]["brand"],
                                  "photo Δ": diff["planted"]["photo"], "recovered": True}}
    for method in METHODS:
        if method in diff:
            d = diff[method]["difference"]
            rows[method] = {"brand Δ": d["brand"], "photo Δ": d["photo"],
                            "recovered": diff[method]["recovered"]}
    out = pd.DataFrame(rows).T
    out.index.name = "names − looks"
    return out


def modality_table(record: dict[str, Any]) -> pd.DataFrame:
    """Modality ablation: mean share of the score change when the title or the photo is
    removed, per market and model."""
    rows = {}
    for market, s in record["metrics"]["markets"].items():
        for model in ("transformer", "mean"):
            shares = s[f"{model}_methods"][METHODS[4]]["modality_shares"]
            rows[(market, model)] = {"title": shares["text"], "photo": shares["image"]}
    out = pd.DataFrame(rows).T
    out.index.names = ["market", "model"]
    return out


def token_agreement_table(record: dict[str, Any]) -> pd.DataFrame:
    """Mean per-item Spearman ρ between attention and attributions over the tokens of each item
    (transformer; averaged over model seeds), per market."""
    out = {}
    for market, per_seed in record["body"]["per_seed"].items():
        pairs = [e["transformer"]["token_agreement"] for e in per_seed.values()]
        out[market] = {k: float(np.mean([p[k] for p in pairs])) for k in pairs[0]}
    table = pd.DataFrame(out)
    table.index.name = "token-level Spearman ρ (per item, mean)"
    return table


def completeness_table(record: dict[str, Any]) -> pd.DataFrame:
    """Integrated gradients' completeness check per market, model and seed: the largest
    |Σ IG − (s(x) − s(0))| (absolute and relative to |s(x) − s(0)|) over the explained pairs."""
    rows = {}
    for market, per_seed in record["body"]["per_seed"].items():
        for seed, entry in per_seed.items():
            for model in ("transformer", "mean"):
                c = entry[model]["ig_completeness"]
                rows[(market, model, seed)] = {"max |δ|": c["max_abs_delta"],
                                               "max |δ| / |s(x) − s(0)|": c["max_rel_delta"],
                                               "mean |s(x) − s(0)|": c["mean_abs_gap"]}
    out = pd.DataFrame(rows).T
    out.index.names = ["market", "model", "seed"]
    return out


def plot_shares(record: dict[str, Any], model: str = "transformer"):
    """One panel per market: group shares per method (bars) and the planted weights as shares
    (black outline)."""
    import matplotlib.pyplot as plt

    markets = list(record["metrics"]["markets"])
    fig, axes = plt.subplots(1, len(markets), figsize=(5.2 * len(markets), 3.4), sharey=True)
    axes = np.atleast_1d(axes)
    x = np.arange(len(GROUPS))
    methods = [m for m in SHARE_METHODS
               if m in record["metrics"]["markets"][markets[0]][f"{model}_methods"]]
    width = 0.8 / (len(methods) + 1)
    for ax, market in zip(axes, markets, strict=True):
        table = shares_table(record, market, model)
        for k, method in enumerate(methods):
            ax.bar(x + k * width, table.loc[method, list(GROUPS)].to_numpy(float), width,
                   label=method)
        ax.bar(x + len(methods) * width, table.loc["planted (as shares)", list(GROUPS)]
               .to_numpy(float), width, fill=False, edgecolor="black", label="planted")
        ax.set_xticks(x + 0.4 - width / 2, GROUPS)
        ax.set_title(f"market '{market}' ({model})")
    axes[0].set_ylabel("share of |importance|")
    axes[-1].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def planted_weights(market: str) -> dict[str, float]:
    """:func:`mmrs.data.markets.planted_group_weights` of a market of :data:`MARKETS`."""
    return planted_group_weights(MARKETS[market])
