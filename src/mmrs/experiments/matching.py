"""Replication command for Chapter 7: features → ablation ladder → a JSON results record.

    python -m mmrs.experiments.matching --dataset abt-buy --profile full --out book/results/matching_abt-buy.json

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
from ..matching.embeddings import Embedding, tfidf_embeddings
from ..matching.fashion_listings import FashionListings, build_fashion_listings, fashion_products
from ..matching.ladder import LadderResult, run_ladder
from ..matching.split import split_groups
from ..provenance import git_state
from .common import add_device_argument, checked_device, json_out, non_negative_int

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
    return MatchingTask(
        dataset, prof.name, seed, views, groups, val_mask, listings, timings, fashion, device
    )


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
    record, _, result = run(
        args.dataset, args.profile, args.seed, args.stages, args.out, not args.quiet, command,
        device,
    )
    print(result.table.drop(columns="config").to_string(float_format=lambda v: f"{v:.4f}"))
    if args.out:
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
