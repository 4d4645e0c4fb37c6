"""Migrate committed records to :mod:`mmrs.records`' schema (version 1) without re-running.

    python scripts/migrate_records.py book/results benchmarks/results

The five older shapes (``mmrs train`` runs, ``bm3_run`` sets of runs, matching, hierarchical and
benchmark files) are rewritten into the one envelope. No value changes: every scalar of the old
file must appear in the new one (checked for each file before it is written, as a multiset of
leaf values), and the only values added are the schema's own (version, kind, nulls for what was
not recorded, the argv split from the command, and the registry's sha256 of the files the loader
had verified). Records already at version 1 are left alone, so the script can run twice.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from mmrs.data.registry import REGISTRY
from mmrs.records import SCHEMA_VERSION, dataset_entry, dumps, validate, write_text_atomic

_SEED = re.compile(r"seed (\d+)")
_REPR = re.compile(r"InteractionData\('([^']+)'")


def _registry_dataset(name: str, sizes: dict | None = None, **extra: Any) -> dict:
    """A registry dataset: its folder under ``$MMRS_DATA`` and the sha256 the loader verified."""
    spec = REGISTRY[name]
    return dataset_entry(name, f"$MMRS_DATA/{spec.folder}", spec.files, sizes, **extra)


def _simulated(name: str, sizes: dict | None, sim_params: dict | None, description: str | None,
               **extra: Any) -> dict:
    """fashion-sim: simulated users over the fashion-small catalogue (whose files were verified)."""
    spec = REGISTRY["fashion-small"]
    out = dataset_entry(
        name, f"simulated by mmrs.data.fashion_sim over $MMRS_DATA/{spec.folder}", spec.files,
        sizes, **extra,
    )
    if sim_params is not None:
        out["simulation"] = sim_params
    if description is not None:
        out["description"] = description
    return out


def _dataset(name: str, sizes: dict | None = None, sim_params: dict | None = None,
             description: str | None = None, **extra: Any) -> dict:
    if name in REGISTRY:
        out = _registry_dataset(name, sizes, **extra)
        if description is not None:
            out["description"] = description
        return out
    if name.startswith("fashion-sim") or sim_params is not None:
        return _simulated(name, sizes, sim_params, description, **extra)
    if name == "fashion":
        spec = REGISTRY["fashion-small"]
        return dataset_entry(name, f"listings simulated from $MMRS_DATA/{spec.folder}",
                             spec.files, sizes, **extra)
    return dataset_entry(name, None, None, sizes, **extra)


def _split_machine(old: Any) -> tuple[dict, dict]:
    """Old ``machine`` (dict with versions mixed in, or a plain platform string) -> (machine,
    versions)."""
    if isinstance(old, str):
        return {"platform": old}, {}
    machine = dict(old or {})
    versions = {k: machine.pop(k) for k in ("python", "torch", "numpy") if k in machine}
    return machine, versions


def _argv(command: str) -> list[str] | None:
    try:
        return shlex.split(command)
    except ValueError:
        return None


def _envelope(kind: str, old: dict, **fields: Any) -> dict:
    machine, versions = _split_machine(old.get("machine"))
    out = {
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "dataset": fields.pop("dataset"),
        "model": fields.pop("model", None),
        "config": fields.pop("config", {}),
        "seeds": fields.pop("seeds", {}),
        "metrics": fields.pop("metrics", {}),
        "timings": fields.pop("timings", {}),
        "peak_rss_mb": old.get("peak_rss_mb"),
        "command": old["command"],
        "argv": _argv(old["command"]),
        "git": {"revision": old.get("git_revision"), "dirty": old.get("git_dirty")},
        "versions": {**versions, **fields.pop("versions", {})},
        "machine": {**machine, **fields.pop("machine", {})},
        "created_utc": old.get("created_utc"),
        "body": fields.pop("body", {}),
    }
    if fields:
        raise ValueError(f"unplaced fields {sorted(fields)}")
    return out


def migrate_train(old: dict, dataset_name: str | None = None, sim_params: dict | None = None,
                  description: str | None = None) -> dict:
    """An ``mmrs train`` / ``mm_run`` record (or one run of a ``bm3_run`` set)."""
    name = dataset_name or old["dataset"]
    sim = old.get("sim_params", sim_params)
    extra = {"data_name": old["dataset"]} if dataset_name and dataset_name != old["dataset"] else {}
    dataset = _dataset(name, old.get("data"), sim, old.get("dataset_repr", description), **extra)
    seeds = {"model": old["seed"]}
    split = _SEED.search((old.get("data") or {}).get("split_source", ""))
    if split:
        seeds["split"] = int(split.group(1))
    if sim is not None:
        seeds["simulation"] = sim["seed"]
    metrics = {"valid": old["valid"], "test": old["test"]}
    for key in ("rare", "rare_within"):
        if key in old:
            metrics[key] = old[key]
    spe = old["seconds_per_epoch"]
    timings = {"train_s_per_epoch": spe["train"], "eval_s_per_epoch": spe["eval"],
               "test_eval_s": old["test_eval_seconds"]}
    if "data_seconds" in old:
        timings["data_s"] = old["data_seconds"]
    body = {k: old[k] for k in ("best_epoch", "epochs_run", "stopped_early", "history")}
    if "variant" in old:
        body["variant"] = old["variant"]
    return _envelope("train", old, dataset=dataset, model=old["model"], config=old["config"],
                     seeds=seeds, metrics=metrics, timings=timings, body=body)


def migrate_train_set(old: dict) -> dict:
    """A ``bm3_run`` file: several variants trained on one simulated dataset."""
    sim = old["sim_params"]
    name = f"fashion-sim-{sim['size']}"
    runs = {v: migrate_train(r, name, sim, old["dataset"]) for v, r in old["runs"].items()}
    first = next(iter(runs.values()))
    first_old = next(iter(old["runs"].values()))
    dataset = _dataset(name, first_old.get("data"), sim, old["dataset"])
    return _envelope(
        "train-set", {**first_old, "command": old["command"], "peak_rss_mb": None},
        dataset=dataset, config={"variants": list(runs)},
        seeds={"model": first["seeds"]["model"], "simulation": sim["seed"]},
        timings={"data_s": old["data_seconds"]}, body={"runs": runs},
    )


def migrate_matching(old: dict) -> dict:
    return _envelope(
        "matching", old, dataset=_dataset(old["dataset"]),
        config={**old["config"], "profile": old["profile"]}, seeds={"split": old["seed"]},
        metrics={"ladder": old["ladder"]}, timings=old["timings"],
        body={"selected_by_validation": old["selected_by_validation"]},
    )


def migrate_hierarchical(old: dict) -> dict:
    return _envelope(
        "hierarchical", old, dataset=_registry_dataset("fashion-small", old["data"]),
        config={**old["config"], "profile": old["profile"]}, seeds={"model": old["seed"]},
        metrics={k: old[k] for k in ("levels", "interference", "latency")},
        timings=old["timings"],
        body={"chapter": old["chapter"], "flat_training": old["flat_training"]},
    )


_BENCH_CONFIG = ("benchmark", "settings", "batch_size", "epochs", "torch_threads", "threads")
_BENCH_DATASET = {"retrieval.json": "fashion-small",
                  "matching_scaling.json": "synthetic listings",
                  "matching_scaling_100k_2threads.json": "synthetic listings"}


def migrate_benchmark(old: dict, file: str) -> dict:
    raw = old.get("dataset", _BENCH_DATASET.get(file, "unknown"))
    match = _REPR.match(raw)
    if match:
        name = match.group(1)
        dataset = _dataset(name, description=raw)
    else:
        dataset = _dataset(raw)
    config = {k: old[k] for k in _BENCH_CONFIG if k in old}
    versions = {"faiss": old["faiss"]} if "faiss" in old else {}
    machine = {"cpu_count": old["cpu_count"]} if "cpu_count" in old else {}
    placed = {"dataset", "machine", "git_revision", "command", "faiss", "cpu_count",
              "peak_rss_mb", "created_utc", *config}
    body = {k: v for k, v in old.items() if k not in placed}
    command = old.get("command", f"python benchmarks/{_bench_script(file)}")
    return _envelope("benchmark", {**old, "command": command}, dataset=dataset, config=config,
                     body=body, versions=versions, machine=machine)


def _bench_script(file: str) -> str:
    return {"retrieval.json": "bench_retrieval.py", "lightgcn_vs_pyg.json": "bench_lightgcn.py"}.get(
        file, "unknown")


def migrate(old: dict, path: Path) -> dict:
    """The version-1 record for the old record ``old`` read from ``path``."""
    if "runs" in old:
        return migrate_train_set(old)
    if "ladder" in old:
        return migrate_matching(old)
    if "levels" in old and "latency" in old:
        return migrate_hierarchical(old)
    if {"model", "valid", "test"} <= old.keys():
        return migrate_train(old)
    return migrate_benchmark(old, path.name)


def leaves(value: Any) -> Counter:
    """Multiset of the scalar leaves of a JSON value (as their JSON text)."""
    out: Counter = Counter()
    if isinstance(value, dict):
        for v in value.values():
            out += leaves(v)
    elif isinstance(value, list):
        for v in value:
            out += leaves(v)
    else:
        out[json.dumps(value)] += 1
    return out


def check_preserved(old: dict, new: dict, path: Path) -> None:
    """Every scalar of ``old`` appears in ``new`` (at least as often; nulls excepted)."""
    missing = leaves(old) - leaves(new)
    missing.pop("null", None)
    if missing:
        raise SystemExit(f"{path}: migration would lose values {list(missing)[:5]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    changed = 0
    for folder in args.folders:
        for path in sorted(folder.glob("**/*.json")):
            old = json.loads(path.read_text(encoding="utf-8"))
            if old.get("schema_version") == SCHEMA_VERSION:
                continue
            new = migrate(old, path)
            validate(new, str(path))
            check_preserved(old, new, path)
            if not args.dry_run:
                write_text_atomic(path, dumps(new))
            changed += 1
            print(f"{path}: {new['kind']}", file=sys.stderr)
    print(f"{changed} record(s) migrated to schema version {SCHEMA_VERSION}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
