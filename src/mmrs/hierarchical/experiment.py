"""Chapter 6's experiment: flat model vs category-first cascade on the fashion catalogue.

:func:`prepare` draws the products, splits them and loads their features; :func:`fit` trains
the flat towers, then per routing level a stage-1 router and stage-2 heads; :func:`evaluate`
scores every variant (flat, flat restricted to the predicted / true category, cascade with
predicted / true category, soft top-m cascade) with :mod:`mmrs.retrieval.task`'s metrics — the
attribute relevance (which contains the routing key), the exact product (MRR over the whole
ranking) and the router-blind graded relevance. Scores are made :data:`BLOCK_ELEMENTS` at a
time (a block of queries against the whole gallery), so the whole catalogue (44k × 9k test
queries) never needs one dense score matrix.
``device`` (default :func:`mmrs.config.device_name`: ``$MMRS_DEVICE`` or the CPU) is where the
features are extracted and every head and router is trained; scores come back as NumPy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..retrieval.catalogue import product_features, split_products, stratified_sample
from ..retrieval.sizes import RetrievalSizes
from ..retrieval.task import (
    GRADED_KEYS,
    attribute_codes,
    attribute_truth,
    graded_gains,
    graded_ndcg,
    own_rank,
    retrieval_metrics,
    topk_from_scores,
)
from ..retrieval.towers import LockedTowers
from ..retrieval.train import TrainLog, train_towers
from .cascade import candidates_scored, flat_scores, flat_topk, routed_scores
from .decomposition import gain_decomposition
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
BLOCK_ELEMENTS = 2**25
"""Score-matrix entries per evaluation block (float32: 128 MiB): queries per block =
``BLOCK_ELEMENTS // n_gallery``."""
DECOMPOSED: tuple[str, ...] = ("mean", "exact_mrr", "graded_ndcg@10")
"""The metrics whose cascade gain :func:`evaluate` splits into parts (``mean``: the mean gain
over P, MAP and NDCG at every K, attribute relevance)."""


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
    (extracted on ``device`` when not cached; cached under the sorted sampled ids — for the
    whole catalogue, every eligible product in id order)."""
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
        top = flat_topk(model, data.text[va], data.image[gallery], k, BLOCK_ELEMENTS)
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


def variant_scores(
    data: Data, fitted: Fitted, level: str, m: int = 3, queries: np.ndarray | None = None,
    only: tuple[str, ...] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{variant: (scores [n_q, n_gallery], candidates per query)}`` at routing ``level``.

    ``queries``: the gallery rows whose titles are the queries (default: the test split);
    ``only``: the variants to score (default: all of :data:`VARIANTS`).
    """
    te = data.rows["test"] if queries is None else np.asarray(queries)
    lv = fitted.levels[level]
    q_text, g_codes = data.text[te], lv.codes
    pred = lv.router.top_m(q_text, 1)[0]
    true = lv.codes[te][:, None]
    top, logp = lv.router.top_m(q_text, m)
    all_n = np.full(len(te), len(data.image))
    flat, plus, heads = fitted.flat, fitted.flat_plus, lv.heads

    def restricted(model, own_heads, routes, prior=None):
        return lambda: (routed_scores(model, own_heads, q_text, data.image, g_codes, routes, prior),
                        candidates_scored(g_codes, routes))

    make = {
        "flat": lambda: (flat_scores(flat, q_text, data.image), all_n),
        "flat+": lambda: (flat_scores(plus, q_text, data.image), all_n),
        "flat | predicted": restricted(flat, {}, pred),
        "flat+ | predicted": restricted(plus, {}, pred),
        "flat | true": restricted(flat, {}, true),
        "cascade | predicted": restricted(flat, heads, pred),
        "cascade | true": restricted(flat, heads, true),
        "cascade | soft top-m": restricted(flat, heads, top, logp),
    }
    return {k: make[k]() for k in (only or VARIANTS)}


class _PerQuery:
    """Per-query results of every variant: top-``depth`` lists, reciprocal rank of the own
    photo, graded NDCG@K, candidates — filled block by block."""

    def __init__(self, data: Data, fitted: Fitted, sz: RetrievalSizes, level: str):
        te = data.rows["test"]
        depth = max(sz.ks)
        q_codes, g_codes = attribute_codes(data.products.iloc[te], data.products, GRADED_KEYS)
        block = max(1, BLOCK_ELEMENTS // max(1, len(data.image)))
        parts: dict[str, list] = {v: [] for v in VARIANTS}
        for start in range(0, len(te), block):
            rows = slice(start, start + block)
            gains = graded_gains(q_codes[rows], g_codes)
            for v in VARIANTS:
                s, cands = variant_scores(data, fitted, level, sz.soft_m, te[rows], (v,))[v]
                top = topk_from_scores(s, depth)
                parts[v].append((top, 1.0 / own_rank(s, te[rows]), graded_ndcg(top, gains, sz.ks),
                                 np.asarray(cands, np.float64)))
                del s
        self.top = {v: np.vstack([p[0] for p in ps]) for v, ps in parts.items()}
        self.rr = {v: np.concatenate([p[1] for p in ps]) for v, ps in parts.items()}
        self.graded = {v: {k: np.concatenate([p[2][k] for p in ps]) for k in ps[0][2]}
                       for v, ps in parts.items()}
        self.cands = {v: np.concatenate([p[3] for p in ps]) for v, ps in parts.items()}
        self.truth = attribute_truth(data.products.iloc[te], data.products)
        self.te, self.ks = te, sz.ks

    def metrics(self, variant: str, mask: np.ndarray | None = None, ks=None) -> dict[str, float]:
        """Every metric of ``variant`` averaged over the queries in ``mask`` (default: all)."""
        idx = np.arange(len(self.te)) if mask is None else np.flatnonzero(mask)
        ks = tuple(ks or self.ks)
        out = retrieval_metrics(self.top[variant][idx], [self.truth[i] for i in idx],
                                self.te[idx], ks)
        out["exact_mrr"] = float(np.mean(self.rr[variant][idx]))
        for k in ks:
            out[f"graded_ndcg@{k}"] = float(np.mean(self.graded[variant][f"graded_ndcg@{k}"][idx]))
        return out


def evaluate(data: Data, fitted: Fitted, sz: RetrievalSizes, level: str) -> dict:
    """Metrics of every variant (three relevances), gains over flat in %p, their split into
    parts (:mod:`~mmrs.hierarchical.decomposition`), stage-1 accuracy, buckets, candidates."""
    te, lv = data.rows["test"], fitted.levels[level]
    per = _PerQuery(data, fitted, sz, level)
    metrics = {v: per.metrics(v) for v in VARIANTS}
    cands = {v: float(np.mean(c)) for v, c in per.cands.items()}
    gains = {k: {m: 100 * (v - metrics["flat"][m]) for m, v in vals.items()} for k, vals in metrics.items()}
    mean_gain = {
        k: float(np.mean([g[f"{m}@{K}"] for m in ("precision", "map", "ndcg") for K in sz.ks]))
        for k, g in gains.items()
    }
    decomposition = {
        name: gain_decomposition(mean_gain if name == "mean"
                                 else {v: gains[v][name] for v in VARIANTS})
        for name in DECOMPOSED if name == "mean" or name in metrics["flat"]
    }
    # error propagation: cascade metrics on correctly / wrongly routed queries
    pred = lv.router.top_m(data.text[te], 1)[0][:, 0]
    right = pred == lv.codes[te]
    propagation = {}
    for name, mask in (("routed right", right), ("routed wrong", ~right)):
        if mask.any():
            propagation[name] = {
                "n_queries": int(mask.sum()),
                **{v: per.metrics(v, mask) for v in ("flat", "cascade | predicted")},
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
        "decomposition_pp": decomposition,
        "candidates": cands,
        "error_propagation": propagation,
        "buckets": bucket_table(data, lv, per, sz),
    }


BUCKET_METRICS: tuple[tuple[str, str], ...] = (
    ("P", "precision"), ("MRR_exact", "exact_mrr"), ("gNDCG", "graded_ndcg"),
)
"""(column prefix, metric) of the bucket table; ``@k`` is added to P and gNDCG."""


def bucket_table(data: Data, lv: Level, per: _PerQuery, sz: RetrievalSizes) -> list[dict]:
    """Metrics by the size of the query's true category in the gallery (terciles of queries).

    Per bucket and metric: the value of flat and of the three routed variants, the cascade's
    gain over flat (``gain_pp``) and its three parts, which sum to it
    (:func:`~mmrs.hierarchical.decomposition.gain_decomposition`). The P@k columns keep their
    short names (``gain_pp``, ``reduction_pp``, ...); the other metrics prefix them.
    """
    te = data.rows["test"]
    size = np.bincount(lv.codes)[lv.codes[te]]
    edges = np.unique(np.quantile(size, [0, 1 / 3, 2 / 3, 1]).astype(int))
    k = sz.ks[1] if len(sz.ks) > 1 else sz.ks[0]
    variants = ("flat", "flat | predicted", "flat+ | predicted", "cascade | predicted")
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        mask = (size >= lo) & (size <= hi) if lo == edges[0] else (size > lo) & (size <= hi)
        if not mask.any():
            continue
        row = {"bucket": f"{lo}-{hi} items", "n_queries": int(mask.sum()),
               "has_own_head": float(np.mean([c in lv.heads for c in lv.codes[te][mask]]))}
        values = {v: per.metrics(v, mask, (k,)) for v in variants}
        for short, metric in BUCKET_METRICS:
            key = metric if metric == "exact_mrr" else f"{metric}@{k}"
            label = short if metric == "exact_mrr" else f"{short}@{k}"
            prefix = "" if short == "P" else f"{short} "
            for v in variants:
                row[f"{v} {label}"] = values[v][key]
            parts = gain_decomposition({v: values[v][key] for v in variants}, scale=100)
            row[f"{prefix}gain_pp"] = parts["total"]
            row[f"{prefix}reduction_pp"] = parts["reduction"]
            row[f"{prefix}extra_training_pp"] = parts["extra training"]
            row[f"{prefix}specialisation_pp"] = parts["specialisation"]
        rows.append(row)
    return rows
