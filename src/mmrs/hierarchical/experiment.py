"""Chapter 6's experiment: flat model vs category-first cascade on the fashion catalogue.

:func:`prepare` draws the products, splits them and loads their features; :func:`fit` trains
the flat towers, then per routing level a stage-1 router and stage-2 heads; :func:`evaluate`
scores every variant (flat, flat restricted to the predicted / true category, cascade with
predicted / true category, soft top-m cascade) with :mod:`mmrs.retrieval.task`'s metrics.
``device`` (default :func:`mmrs.config.device_name`: ``$MMRS_DEVICE`` or the CPU) is where the
features are extracted and every head and router is trained; scores come back as NumPy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..retrieval.catalogue import product_features, split_products, stratified_sample
from ..retrieval.sizes import RetrievalSizes
from ..retrieval.task import attribute_truth, retrieval_metrics, topk_from_scores
from ..retrieval.towers import LockedTowers
from ..retrieval.train import TrainLog, train_towers
from .cascade import candidates_scored, flat_scores, routed_scores
from .heads import SPECIALISE_LR, specialise_heads
from .router import CategoryRouter, routing_accuracy, train_router

LEVELS: tuple[str, ...] = ("articleType", "subCategory")
VARIANTS: tuple[str, ...] = (
    "flat", "flat+", "flat | predicted", "flat+ | predicted", "flat | true",
    "cascade | predicted", "cascade | true", "cascade | soft top-m",
)
"""``flat+``: the shared heads trained for as many extra epochs (same learning rate) as the
stage-2 heads get, on all training pairs — the control for "specialised heads simply trained
longer"."""


@dataclass
class Data:
    """Sampled products (rows aligned with the feature arrays) and the split as row indices."""

    products: pd.DataFrame
    image: np.ndarray
    text: np.ndarray
    rows: dict[str, np.ndarray]
    timings: dict[str, float]

    def codes(self, level: str) -> tuple[np.ndarray, list[str]]:
        """Integer category codes of every row at ``level`` and the label of each code."""
        cat = pd.Categorical(self.products[level])
        return np.asarray(cat.codes, np.int64), [str(c) for c in cat.categories]


@dataclass
class Level:
    """Stage-1 router and stage-2 heads for one routing level."""

    name: str
    codes: np.ndarray
    labels: list[str]
    router: CategoryRouter
    heads: dict[int, LockedTowers]


@dataclass
class Fitted:
    """The flat towers, the extra-epochs control ``flat_plus``, and one :class:`Level` each."""

    flat: LockedTowers
    log: TrainLog
    flat_plus: LockedTowers
    levels: dict[str, Level] = field(default_factory=dict)


def prepare(
    catalogue, sz: RetrievalSizes, seed: int, progress: bool = True, device: str | None = None
) -> Data:
    """Stratified sample of ``sz.n_products`` products, a disjoint split, and their features
    (extracted on ``device`` when not cached)."""
    ids = stratified_sample(catalogue.products, sz.n_products, seed)
    products = catalogue.products.loc[ids]
    split = split_products(catalogue.products, ids, seed, sz.fractions)
    pos = pd.Series(np.arange(len(ids)), index=ids)
    rows = {k: pos.loc[v].to_numpy() for k, v in split.items()}
    image, text, timings = product_features(catalogue, ids, progress=progress, device=device)
    return Data(products, image, text, rows, timings)


def validation_ndcg(data: Data, k: int = 10):
    """``model ↦`` NDCG@k of the validation titles against the train + validation photos.

    The task of :mod:`mmrs.retrieval.task` on the validation split, with a gallery that holds no
    test product — the score the flat model's epoch is selected on.
    """
    va = data.rows["valid"]
    gallery = np.sort(np.concatenate([data.rows["train"], va]))
    truth = attribute_truth(data.products.iloc[va], data.products.iloc[gallery])
    own = np.searchsorted(gallery, va)

    def score(model: LockedTowers) -> float:
        top = topk_from_scores(flat_scores(model, data.text[va], data.image[gallery]), k)
        return retrieval_metrics(top, truth, own, (k,))[f"ndcg@{k}"]

    return score


def fit(
    data: Data, sz: RetrievalSizes, seed: int, levels=LEVELS, progress: bool = True,
    device: str | None = None,
) -> Fitted:
    """Flat towers (CLIP loss, epoch selected on validation NDCG@10), then a router and
    stage-2 heads per level, and the ``flat+`` control, all trained on ``device``."""
    from ..config import resolve_device

    where = resolve_device(device)
    tr = data.rows["train"]
    flat, log = train_towers(
        data.image[tr], data.text[tr], epochs=sz.epochs, seed=seed, batch_size=sz.batch_size,
        lr=sz.lr, select=validation_ndcg(data) if len(data.rows["valid"]) else None,
        dim=sz.dim, hidden=sz.hidden, progress=progress, desc="flat towers", device=where,
    )
    flat_plus, _ = train_towers(
        data.image[tr], data.text[tr], epochs=sz.specialise_epochs, seed=seed,
        batch_size=sz.batch_size, lr=SPECIALISE_LR, model=flat.copy(), progress=False,
        device=where,
    )
    fitted = Fitted(flat, log, flat_plus)
    for level in levels:
        codes, labels = data.codes(level)
        router = train_router(
            data.text[tr], codes[tr], len(labels), epochs=sz.router_epochs, seed=seed, device=where
        )
        heads = specialise_heads(
            flat, data.image[tr], data.text[tr], codes[tr], min_items=sz.min_specialise,
            epochs=sz.specialise_epochs, seed=seed, batch_size=sz.batch_size, progress=progress,
            device=where,
        )
        fitted.levels[level] = Level(level, codes, labels, router, heads)
    return fitted


def variant_scores(data: Data, fitted: Fitted, level: str, m: int = 3) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{variant: (scores [n_test, n_gallery], candidates per query)}`` at routing ``level``."""
    te, lv = data.rows["test"], fitted.levels[level]
    q_text, g_codes = data.text[te], lv.codes
    pred = lv.router.top_m(q_text, 1)[0]
    true = lv.codes[te][:, None]
    top, logp = lv.router.top_m(q_text, m)
    all_n = np.full(len(te), len(data.image))
    args = (fitted.flat,)
    out = {
        "flat": (flat_scores(fitted.flat, q_text, data.image), all_n),
        "flat+": (flat_scores(fitted.flat_plus, q_text, data.image), all_n),
        "flat | predicted": (routed_scores(*args, {}, q_text, data.image, g_codes, pred), pred),
        "flat+ | predicted": (
            routed_scores(fitted.flat_plus, {}, q_text, data.image, g_codes, pred), pred
        ),
        "flat | true": (routed_scores(*args, {}, q_text, data.image, g_codes, true), true),
        "cascade | predicted": (routed_scores(*args, lv.heads, q_text, data.image, g_codes, pred), pred),
        "cascade | true": (routed_scores(*args, lv.heads, q_text, data.image, g_codes, true), true),
        "cascade | soft top-m": (
            routed_scores(*args, lv.heads, q_text, data.image, g_codes, top, logp), top
        ),
    }
    return {
        k: (s, r if r is all_n else candidates_scored(g_codes, r)) for k, (s, r) in out.items()
    }


def evaluate(data: Data, fitted: Fitted, sz: RetrievalSizes, level: str) -> dict:
    """Metrics of every variant, gains over flat in %p, stage-1 accuracy, buckets, candidates."""
    te, lv = data.rows["test"], fitted.levels[level]
    truth = attribute_truth(data.products.iloc[te], data.products)
    depth = max(sz.ks)
    scored = variant_scores(data, fitted, level, sz.soft_m)
    tops = {k: topk_from_scores(s, depth) for k, (s, _) in scored.items()}
    metrics = {k: retrieval_metrics(t, truth, te, sz.ks) for k, t in tops.items()}
    cands = {k: float(np.mean(c)) for k, (_, c) in scored.items()}
    gains = {k: {m: 100 * (v - metrics["flat"][m]) for m, v in vals.items()} for k, vals in metrics.items()}
    mean_gain = {
        k: float(np.mean([g[f"{m}@{K}"] for m in ("precision", "map", "ndcg") for K in sz.ks]))
        for k, g in gains.items()
    }
    # error propagation: cascade metrics on correctly / wrongly routed queries
    pred = lv.router.top_m(data.text[te], 1)[0][:, 0]
    right = pred == lv.codes[te]
    propagation = {}
    for name, mask in (("routed right", right), ("routed wrong", ~right)):
        if mask.any():
            propagation[name] = {
                "n_queries": int(mask.sum()),
                **{v: retrieval_metrics(tops[v][mask], [truth[i] for i in np.flatnonzero(mask)],
                                        te[mask], sz.ks) for v in ("flat", "cascade | predicted")},
            }
    return {
        "level": level,
        "n_categories": len(lv.labels),
        "n_specialised": len(lv.heads),
        "stage1": {
            "top1": routing_accuracy(lv.router, data.text[te], lv.codes[te], 1),
            f"top{sz.soft_m}": routing_accuracy(lv.router, data.text[te], lv.codes[te], sz.soft_m),
        },
        "metrics": metrics,
        "gain_pp": gains,
        "mean_gain_pp": mean_gain,
        "candidates": cands,
        "error_propagation": propagation,
        "buckets": bucket_table(data, lv, tops, truth, sz),
    }


def bucket_table(data: Data, lv: Level, tops: dict, truth: list, sz: RetrievalSizes) -> list[dict]:
    """Metrics by the size of the query's true category in the gallery (terciles of queries)."""
    te = data.rows["test"]
    size = np.bincount(lv.codes)[lv.codes[te]]
    edges = np.unique(np.quantile(size, [0, 1 / 3, 2 / 3, 1]).astype(int))
    k = sz.ks[1] if len(sz.ks) > 1 else sz.ks[0]
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        mask = (size >= lo) & (size <= hi) if lo == edges[0] else (size > lo) & (size <= hi)
        if not mask.any():
            continue
        idx = np.flatnonzero(mask)
        row = {"bucket": f"{lo}-{hi} items", "n_queries": int(mask.sum()),
               "has_own_head": float(np.mean([c in lv.heads for c in lv.codes[te][mask]]))}
        for v in ("flat", "flat | predicted", "flat+ | predicted", "cascade | predicted"):
            row[f"{v} P@{k}"] = retrieval_metrics(tops[v][mask], [truth[i] for i in idx], te[mask], (k,))[f"precision@{k}"]
        row["gain_pp"] = 100 * (row[f"cascade | predicted P@{k}"] - row[f"flat P@{k}"])
        row["reduction_pp"] = 100 * (row[f"flat | predicted P@{k}"] - row[f"flat P@{k}"])
        row["specialisation_pp"] = 100 * (
            row[f"cascade | predicted P@{k}"] - row[f"flat+ | predicted P@{k}"]
        )
        rows.append(row)
    return rows
