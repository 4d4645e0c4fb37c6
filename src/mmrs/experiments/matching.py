"""Replication command for Chapter 7: features → ablation ladder → a JSON results record.

    python -m mmrs.experiments.matching --dataset abt-buy --profile full --torch-threads 1 \
        --out book/results/matching_abt-buy.json

The record (:func:`study`) holds, for one dataset in the setting it was built for (Abt-Buy and
Amazon-Google: clean–clean with one-to-one, tuned on pair-level F1; the fashion listings: pooled,
tuned on the Shopee F1): the ladder on frozen features and on ArcFace-trained heads (both metric
families, the self-only baseline), the margin × scale grid of the heads, the setting comparison
(pooled vs clean–clean on the same data, frozen features, no blending) and the effect of INB by
group size. Groups are split 50/25/25 into train / validation / test
(:func:`mmrs.matching.split.split_groups3`); heads train on train groups, thresholds and margins
are tuned on validation, ladders report test.

Datasets: ``abt-buy`` and ``amazon-google`` (text only: views ``tfidf`` and ``minilm`` over the
listing titles, both shops pooled) and ``fashion`` (simulated listings of real products: views
``image`` = EfficientNet-Lite0 and ``text`` = MiniLM over the perturbed titles). Features are
cached (:mod:`mmrs.features.cache`). Groups are split 50/50 into validation and test with the
seed; thresholds are tuned on validation, every number in the ladder is on test.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import records
from ..config import PROFILES, device_name, profile
from ..features.cache import cached_features
from ..features.image import IMAGE_ENCODER, image_embeddings
from ..features.text import TEXT_ENCODER, text_embeddings
from ..matching.embeddings import Embedding, take_rows, tfidf_embeddings
from ..matching.fashion_listings import FashionListings, build_fashion_listings, fashion_products
from ..matching.ladder import LadderResult, run_ladder
from ..matching.pairs import pair_scores, per_listing_f1
from ..matching.split import SPLIT_FRACTIONS, split_groups, split_groups3
from ..matching.trained import train_views
from ..provenance import git_state
from .common import (
    add_device_argument,
    checked_device,
    json_out,
    non_negative_int,
    positive_int,
)

DATASETS = ("abt-buy", "amazon-google", "fashion")
DEFAULT_SEED = 2021
"""Groups of Abt-Buy / Amazon-Google used per profile (``None``: all of them)."""
VAL_FRACTION = 0.5
STAGES = 3


@dataclass
class MatchingTask:
    """Everything the ladder needs for one dataset, plus how long the features took."""

    dataset: str
    profile: str
    seed: int
    views: dict[str, Embedding]
    groups: np.ndarray
    val_mask: np.ndarray
    listings: object
    timings: dict[str, dict] = field(default_factory=dict)
    fashion: FashionListings | None = None
    device: str = "cpu"
    """Where uncached features were extracted (:func:`mmrs.config.device_name`)."""
    sources: np.ndarray | None = None
    """Source (shop) of each listing for the clean–clean benchmarks; ``None`` for fashion."""
    split: np.ndarray | None = None
    """``"train"`` / ``"val"`` / ``"test"`` per listing (:func:`split_groups3`)."""


NATIVE = {
    "abt-buy": ("clean-clean", "pair", True),
    "amazon-google": ("clean-clean", "pair", True),
    "fashion": ("pooled", "shopee", False),
}
"""Each dataset's own setting: (setting, tuning objective, one-to-one)."""

STUDY_K = {"abt-buy": 11, "amazon-google": 11, "fashion": 21}
"""Neighbours per listing in :func:`study` (the listing itself included). Fewer than the Shopee
cap of 51, to keep each record within a few minutes on one thread: a clean–clean listing has one
or a few partners, and a simulated fashion product has at most a handful of listings."""


def _timed_features(
    name: str, encoder: str, dataset: str, keys: list, compute, chunk: int | None, progress: bool
) -> tuple[np.ndarray, dict]:
    from ..features.cache import cache_path

    path = cache_path(encoder, dataset, keys)
    sidecar = path.with_name(path.stem + ".timing.json")
    was_cached = path.is_file()
    tic = time.perf_counter()
    values = cached_features(encoder, dataset, keys, compute, chunk_size=chunk, progress=progress)
    seconds = time.perf_counter() - tic
    info = {
        "encoder": encoder,
        "n": len(keys),
        "seconds": round(seconds, 3),
        "from_cache": was_cached,
    }
    if not was_cached:
        info["per_second"] = round(len(keys) / max(seconds, 1e-9), 2)
        when = {"seconds": info["seconds"], "per_second": info["per_second"]}
        sidecar.write_text(json.dumps(when))
    elif sidecar.is_file():  # how fast the extraction was when the cache was filled
        info["when_computed"] = json.loads(sidecar.read_text())
    return values, info


def prepare(
    dataset: str,
    profile_name: str | None = None,
    seed: int = DEFAULT_SEED,
    progress: bool = True,
    device: str | None = None,
) -> MatchingTask:
    """Load ``dataset``, compute (or read cached) features and split the groups. Features that
    are not cached are extracted on ``device`` (default ``$MMRS_DEVICE`` or ``cpu``); the cache
    key does not depend on it."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")
    device = device_name(device)
    prof = profile(profile_name)
    timings: dict[str, dict] = {}
    fashion = None
    if dataset == "fashion":
        from ..data import load_fashion

        fashion = build_fashion_listings(load_fashion(), fashion_products(prof.name), seed=seed)
        listings = fashion.listings
        titles = listings["title"].tolist()
        image, timings["image"] = _timed_features(
            "image",
            IMAGE_ENCODER,
            fashion.name,
            fashion.keys(),
            lambda keys: image_embeddings(
                fashion.images(_rows(fashion, keys)), progress=progress, device=device
            ),
            chunk=512,
            progress=progress,
        )
        text, timings["text"] = _timed_features(
            "text",
            TEXT_ENCODER,
            "titles",
            titles,
            lambda t: text_embeddings(list(t), progress=progress, device=device),
            chunk=None,
            progress=progress,
        )
        views: dict[str, Embedding] = {"image": image, "text": text}
    else:
        from ..data import load_matching

        listings = subsample_groups(load_matching(dataset).listings, text_groups(prof.name), seed)
        titles = listings["title"].tolist()
        tic = time.perf_counter()
        tfidf = tfidf_embeddings(titles)
        timings["tfidf"] = {
            "n": len(titles),
            "seconds": round(time.perf_counter() - tic, 3),
            "dim": tfidf.shape[1],
        }
        minilm, timings["minilm"] = _timed_features(
            "minilm",
            TEXT_ENCODER,
            "titles",
            titles,
            lambda t: text_embeddings(list(t), progress=progress, device=device),
            chunk=None,
            progress=progress,
        )
        views = {"tfidf": tfidf, "minilm": minilm}
    groups = listings["group_id"].to_numpy()
    val_mask = split_groups(groups, VAL_FRACTION, seed)
    sources = None if dataset == "fashion" else listings["source"].to_numpy()
    return MatchingTask(
        dataset, prof.name, seed, views, groups, val_mask, listings, timings, fashion, device,
        sources, split_groups3(groups, SPLIT_FRACTIONS, seed),
    )


SIZE_BUCKETS = ((1, 1), (2, 2), (3, 4), (5, 10**9))


def _bucket(size: int) -> str:
    for lo, hi in SIZE_BUCKETS:
        if lo <= size <= hi:
            return str(lo) if lo == hi else (f"{lo}-{hi}" if hi < 10**9 else f"{lo}+")
    raise ValueError(size)


def inb_effect(result: LadderResult, before: str = "union + min2") -> dict:
    """Test scores of the best-validation INB stage against ``before``: pair F1 and the Shopee
    F1 per group-size bucket (mean per-listing F1 and the number of listings)."""
    stages = [s for s in result.table.index if s.startswith("INB")]
    if not stages:
        return {}
    after = str(result.table.loc[stages, "val_f1"].idxmax())
    stage = after.replace("INB ", "")
    groups = result.groups["test"]
    m0 = result.tuning[before].config.predict(result.neighbours["stage 0"]["test"])
    m1 = result.tuning[after].config.predict(result.neighbours[stage]["test"])
    f0, f1 = per_listing_f1(m0, groups), per_listing_f1(m1, groups)
    _, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    bucket = np.array([_bucket(int(v)) for v in sizes[inverse]])
    by_size = {
        b: {"listings": int((bucket == b).sum()), "before": float(f0[bucket == b].mean()),
            "after": float(f1[bucket == b].mean())}
        for b in dict.fromkeys(_bucket(lo) for lo, _ in SIZE_BUCKETS) if (bucket == b).any()
    }
    return {"before": before, "after": after,
            "pair_f1_before": pair_scores(m0, groups)["f1"],
            "pair_f1_after": pair_scores(m1, groups)["f1"],
            "shopee_f1_before": float(f0.mean()), "shopee_f1_after": float(f1.mean()),
            "by_group_size": by_size}


def _subset(task: MatchingTask, views: dict):
    """Views, groups, validation mask and sources of the validation + test listings."""
    keep = task.split != "train"
    sub = {k: take_rows(v, keep) for k, v in views.items()}
    srcs = None if task.sources is None else task.sources[keep]
    return sub, task.groups[keep], task.split[keep] == "val", srcs


def study(task: MatchingTask, stages: int = STAGES, progress: bool = False,
          epochs: int = 40) -> tuple[dict, dict[str, LadderResult]]:
    """Everything the record holds (see the module docstring). Returns (metrics, ladders)."""
    setting, objective, o2o = NATIVE[task.dataset]
    native_sources = task.sources if setting == "clean-clean" else None
    k = STUDY_K[task.dataset]
    trained = train_views(task.views, task.groups, task.split, native_sources, objective, o2o,
                          epochs=epochs, seed=task.seed)
    ladders: dict[str, LadderResult] = {}
    seconds: dict[str, float] = {}
    for kind, views in (("frozen", task.views), ("trained", trained.views)):
        sub, groups, val_mask, srcs = _subset(task, views)
        tic = time.perf_counter()
        ladders[kind] = run_ladder(
            sub, groups, val_mask, stages=stages, progress=progress, k=k,
            sources=srcs if setting == "clean-clean" else None, objective=objective,
            one_to_one=o2o,
        )
        seconds[kind] = round(time.perf_counter() - tic, 3)
    settings = {}
    sub, groups, val_mask, srcs = _subset(task, task.views)
    variants = [("pooled, Shopee-F1 tuned", None, "shopee", False),
                ("pooled, pair-F1 tuned", None, "pair", False)]
    if srcs is not None:
        variants += [("clean-clean, pair-F1 tuned", srcs, "pair", False),
                     ("clean-clean + one-to-one, pair-F1 tuned", srcs, "pair", True)]
    for name, s, obj, one in variants:
        res = run_ladder(sub, groups, val_mask, stages=0, progress=progress, k=k, sources=s,
                         objective=obj, one_to_one=one)
        settings[name] = res.records()
    metrics = {
        "setting": setting, "objective": objective, "one_to_one": o2o,
        "ladder": ladders["frozen"].records(),
        "ladders": {kind: r.records() for kind, r in ladders.items()},
        "baseline": ladders["frozen"].baseline,
        "selected": {kind: r.selected_step() for kind, r in ladders.items()},
        "heads": {"chosen": trained.chosen, "grid": trained.grid, "epochs": epochs},
        "settings": settings,
        "inb_effect": {kind: inb_effect(r) for kind, r in ladders.items()},
        "ladder_seconds": seconds,
    }
    return metrics, ladders


def text_groups(profile_name: str) -> int | None:
    """Groups of a text benchmark: ``Profile.matching_groups`` of ``profile_name``."""
    return profile(profile_name).matching_groups


def subsample_groups(listings, n_groups: int | None, seed: int):
    """The listings of ``n_groups`` seeded random groups (all when ``None`` or too few)."""
    unique = np.unique(listings["group_id"].to_numpy())
    if n_groups is None or n_groups >= len(unique):
        return listings
    keep = np.random.default_rng(seed).choice(unique, size=n_groups, replace=False)
    return listings[listings["group_id"].isin(keep)].reset_index(drop=True)


def _rows(fashion: FashionListings, keys) -> list[int]:
    index = {key: i for i, key in enumerate(fashion.keys())}
    return [index[k] for k in keys]


def make_record(
    task: MatchingTask, result: LadderResult, command: str, ladder_seconds: float
) -> dict:
    """The JSON results record of one run."""
    sizes = {part: int(len(rows)) for part, rows in result.rows.items()}
    groups = {part: int(len(np.unique(g))) for part, g in result.groups.items()}
    config = {
        "views": list(task.views),
        "val_fraction": VAL_FRACTION,
        "stages": len([s for s in result.table.index if s.startswith("INB")]),
        "k": int(next(iter(result.neighbours["stage 0"]["test"].values())).k),
        "listings": sizes,
        "groups": groups,
        "text": "listing titles",
        **(
            {
                "fashion_products": int(task.fashion.listings["product_id"].nunique()),
                "fashion_hard_negative_listings": int(
                    task.fashion.listings["hard_negative"].sum()
                ),
            }
            if task.fashion is not None
            else {}
        ),
        "profile": task.profile,
        "device": task.device,
    }
    return records.new_record(
        "matching",
        dataset=matching_dataset(task.dataset, sizes),
        config=config,
        seeds={"split": task.seed},
        metrics={"ladder": result.records()},
        timings={"features": task.timings, "ladder_seconds": round(ladder_seconds, 3)},
        body={"selected_by_validation": result.selected_step()},
        command=command,
        argv=shlex.split(command) if command.startswith("python") else None,
    )


def matching_dataset(name: str, sizes: dict) -> dict:
    """The record's ``dataset`` field: a registry benchmark with the sha256 its loader verified,
    or the fashion listings simulated from the verified ``fashion-small`` catalogue."""
    from ..data.registry import REGISTRY

    spec = REGISTRY.get(name, REGISTRY["fashion-small"])
    source = (f"$MMRS_DATA/{spec.folder}" if name in REGISTRY
              else f"listings simulated from $MMRS_DATA/{spec.folder}")
    return records.dataset_entry(name, source, spec.files, sizes)


def run(
    dataset: str,
    profile_name: str | None = None,
    seed: int = DEFAULT_SEED,
    stages: int = STAGES,
    out: Path | None = None,
    progress: bool = True,
    command: str | None = None,
    device: str | None = None,
) -> tuple[dict, MatchingTask, LadderResult]:
    """Prepare, run the ladder, and (with ``out``) write the record. Returns all three.
    ``device``: where uncached features are extracted (:func:`prepare`)."""
    task = prepare(dataset, profile_name, seed, progress, device)
    tic = time.perf_counter()
    result = run_ladder(task.views, task.groups, task.val_mask, stages=stages, progress=progress)
    record = make_record(
        task, result, command or "mmrs.experiments.matching.run()", time.perf_counter() - tic
    )
    if out is not None:
        records.save(record, out)
    return record, task, result


def study_record(task: MatchingTask, metrics: dict, command: str, seconds: float) -> dict:
    """The JSON results record of :func:`study` (split sizes, settings, timings)."""
    labels = ("train", "val", "test")
    config = {
        "views": list(task.views),
        "split_fractions": list(SPLIT_FRACTIONS),
        "listings": {p: int((task.split == p).sum()) for p in labels},
        "groups": {p: int(len(np.unique(task.groups[task.split == p]))) for p in labels},
        "setting": metrics["setting"], "objective": metrics["objective"],
        "k": STUDY_K[task.dataset],
        "one_to_one": metrics["one_to_one"], "stages": STAGES,
        "text": "listing titles", "profile": task.profile, "device": task.device,
        **({"fashion_products": int(task.fashion.listings["product_id"].nunique())}
           if task.fashion is not None else {}),
    }
    selected = metrics["selected"]["frozen"]
    return records.new_record(
        "matching",
        dataset=matching_dataset(task.dataset, config["listings"]),
        config=config,
        seeds={"split": task.seed, "heads": task.seed},
        metrics=metrics,
        timings={"features": task.timings, "ladder_seconds": metrics.pop("ladder_seconds"),
                 "total_seconds": round(seconds, 3)},
        body={"selected_by_validation": selected},
        command=command,
        argv=shlex.split(command) if command.startswith("python") else None,
    )


def run_study(dataset: str, profile_name: str | None = None, seed: int = DEFAULT_SEED,
              stages: int = STAGES, out: Path | None = None, progress: bool = False,
              command: str | None = None, device: str | None = None,
              epochs: int = 40) -> tuple[dict, MatchingTask, dict[str, LadderResult]]:
    """Prepare, run :func:`study`, and (with ``out``) write the record. Returns all three."""
    tic = time.perf_counter()
    task = prepare(dataset, profile_name, seed, progress, device)
    metrics, ladders = study(task, stages, progress, epochs)
    record = study_record(task, metrics, command or "mmrs.experiments.matching.run_study()",
                          time.perf_counter() - tic)
    if out is not None:
        records.save(record, out)
    return record, task, ladders


def parser() -> argparse.ArgumentParser:
    """The command line; every value is checked before any data is loaded."""
    out = argparse.ArgumentParser(
        prog="python -m mmrs.experiments.matching", description=__doc__.split("\n")[0]
    )
    out.add_argument("--dataset", required=True, choices=DATASETS)
    out.add_argument("--profile", choices=sorted(PROFILES), default=None,
                     help="ci or full (default: $MMRS_PROFILE or ci)")
    out.add_argument("--seed", type=int, default=DEFAULT_SEED)
    out.add_argument("--stages", type=non_negative_int, default=STAGES)
    out.add_argument("--out", type=json_out, default=None, help="JSON record to write")
    out.add_argument("--quiet", action="store_true", help="no progress bars")
    out.add_argument("--torch-threads", type=positive_int, default=1,
                     help="torch / BLAS threads (default 1, as the records were timed)")
    out.add_argument("--epochs", type=positive_int, default=40, help="head training epochs")
    add_device_argument(out, "extract features")
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    cli = parser()
    args = cli.parse_args(argv)
    git_state()  # the record states the tree this run starts from
    device = checked_device(cli, args.device)
    command = shlex.join(["python", "-m", "mmrs.experiments.matching", *argv])
    import torch

    torch.set_num_threads(args.torch_threads)
    record, _, ladders = run_study(
        args.dataset, args.profile, args.seed, args.stages, args.out, not args.quiet, command,
        device, args.epochs,
    )
    for kind, result in ladders.items():
        print(f"{kind}:")
        cols = ["val_f1", "test_f1", "test_pair_f1", "test_pair_precision", "test_pair_recall"]
        print(result.table[cols].to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"total {record['timings']['total_seconds']:.1f} s")
    if args.out:
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
