"""Replication command for Chapter 6: flat vs cascade → a JSON results record.

    python -m mmrs.experiments.hierarchical --profile full --out book/results/hierarchical_full.json

    python -m mmrs.experiments.hierarchical --profile full --size catalogue \
        --out book/results/hierarchical_catalogue.json

Draws ``sizes(profile).n_products`` products (stratified by articleType; the full profile uses a
6,000-product stratified subset and the record says so; ``--size catalogue`` takes every product
with a title and a photo, all articleTypes and subCategories), trains and evaluates every variant
at both routing levels, measures per-query latency, and writes the record.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict

import numpy as np

from .. import records
from ..config import PROFILES, RETRIEVAL_SIZES, device_name
from ..data.registry import REGISTRY
from ..hierarchical.cascade import flat_topk
from ..hierarchical.experiment import LEVELS, evaluate, fit, prepare
from ..hierarchical.interference import confusion_pairs, cross_category_share
from ..hierarchical.latency import query_latency
from ..provenance import git_state
from ..retrieval.catalogue import eligible
from ..retrieval.sizes import sizes
from .common import add_device_argument, checked_device, json_out

DEFAULT_SEED = 6


def run(
    profile: str | None = None, seed: int = DEFAULT_SEED, progress: bool = True, catalogue=None,
    device: str | None = None, size: str | None = None,
) -> dict:
    """Run the whole experiment and return the results record (a JSON-ready dict); features,
    towers, routers and heads on ``device`` (default ``$MMRS_DEVICE`` or ``cpu``). ``size``
    names a :data:`mmrs.config.RETRIEVAL_SIZES` entry (default: the profile's)."""
    import torch

    from ..data import load_fashion

    torch.set_num_threads(1)
    device = device_name(device)
    sz = sizes(size or profile)
    t0 = time.perf_counter()
    catalogue = catalogue if catalogue is not None else load_fashion()
    data = prepare(catalogue, sz, seed, progress, device=device)
    t_fit = time.perf_counter()
    fitted = fit(data, sz, seed, progress=progress, device=device)
    t_eval = time.perf_counter()
    levels = {level: evaluate(data, fitted, sz, level) for level in LEVELS}
    te = data.rows["test"]
    top = flat_topk(fitted.flat, data.text[te], data.image, 10)
    lv = fitted.levels["articleType"]
    share = cross_category_share(None, lv.codes[te], lv.codes, 10, top=top)
    latency = query_latency(fitted.flat, lv, data.text[te], data.image, k=max(sz.ks))
    latency["note"] = "first 200 test queries, one at a time, median of 3 passes"
    body = {
        "chapter": 6,
        "flat_training": {"loss": fitted.log.loss, "valid_ndcg10": fitted.log.valid_recall10,
                          "best_epoch": fitted.log.best_epoch,
                          "logit_scale": float(fitted.flat.logit_scale.detach().exp())},
    }
    metrics = {
        "levels": levels,
        "interference": {"cross_category_share@10": float(share.mean()),
                         "top_confusions": confusion_pairs(None, lv.codes[te], lv.codes, lv.labels,
                                                           top=top)},
        "latency": latency,
    }
    sizes_ = {
        "catalogue_products": int(len(catalogue.products)),
        "sampled_products": int(len(data.products)),
        "eligible_products": int(len(eligible(catalogue.products))),
        "subset": "stratified by articleType (proportional, seeded)"
        if len(data.products) < len(eligible(catalogue.products))
        else "whole catalogue (every product with a title and a photo)",
        "splits": {k: int(len(v)) for k, v in data.rows.items()},
        "queries": int(len(te)),
        "gallery": int(len(data.image)),
        "n_categories": {level: int(data.products[level].nunique()) for level in LEVELS},
    }
    spec = REGISTRY["fashion-small"]
    return records.new_record(
        "hierarchical",
        dataset=records.dataset_entry("fashion-small", f"$MMRS_DATA/{spec.folder}", spec.files, sizes_),
        config={**asdict(sz), "profile": sz.name, "device": device},
        seeds={"model": seed},
        metrics=_jsonable(metrics),
        timings={
            **{k: round(v, 2) for k, v in data.timings.items()},
            "image_note": "image_s counts only photos encoded by this process; cached (or "
            "resumed) chunks load in ~0 s, so throughput is measured by benchmarks/bench_retrieval.py",
            "fit_s": round(t_eval - t_fit, 2),
            "evaluate_s": round(time.perf_counter() - t_eval, 2),
            "total_s": round(time.perf_counter() - t0, 2),
        },
        body=_jsonable(body),
    )


def parser() -> argparse.ArgumentParser:
    """The command line; every value is checked before any data is loaded."""
    out = argparse.ArgumentParser(prog="python -m mmrs.experiments.hierarchical",
                                  description=__doc__.splitlines()[0])
    out.add_argument("--profile", choices=sorted(PROFILES), default=None,
                     help="ci or full (default: $MMRS_PROFILE or ci)")
    out.add_argument("--size", choices=sorted(RETRIEVAL_SIZES), default=None,
                     help="retrieval sizes (default: the profile's; catalogue: every product)")
    out.add_argument("--seed", type=int, default=DEFAULT_SEED)
    add_device_argument(out, "extract features and train")
    out.add_argument("--out", type=json_out, required=True, help="where to write the JSON record")
    return out


def main(argv: list[str] | None = None) -> int:
    cli = parser()
    args = cli.parse_args(argv)
    git_state()  # the record states the tree this run starts from
    device = checked_device(cli, args.device)
    record = run(args.profile, args.seed, device=device, size=args.size)
    records.save(record, args.out)
    print(f"wrote {args.out}")
    return 0


def _jsonable(x):
    """``x`` with numpy scalars and arrays turned into Python numbers and lists."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


if __name__ == "__main__":
    raise SystemExit(main())
