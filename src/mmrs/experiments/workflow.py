"""What ``workflow/Snakefile`` imports: the replication DAG's targets and when a record is stale.

Every point of every experiment (:data:`mmrs.experiments.EXPERIMENTS`) is one job whose output is
the point's record. Snakemake decides what to run from file times, and a fresh clone gives every
file the checkout's time, so file times cannot say whether a committed record is current. Here the
code and the data say it instead:

* :func:`state` is :func:`mmrs.experiments.status` (``git log REV..HEAD -- DEPENDS`` from the
  record's git revision), plus a data check: a record whose stored dataset checksums differ from
  the ones :data:`mmrs.data.registry.REGISTRY` now expects is ``stale (data: NAME changed)``.
* A point is *out of date* unless its state is ``current``: ``stale``, ``missing``, ``unknown``
  (a record without a revision in this history cannot be shown current) and ``invalid`` records
  are re-made.
* :func:`write_stamps` writes one small stamp file per point (its state, rewritten only when it
  changes) under ``.mmrs_cache/workflow/`` (git-ignored). The Snakefile gives each job its stamp
  as input: wrapped in ``ancient()`` (its time never counts) when the point is current, and
  touched to be newer than the record when it is out of date. So ``snakemake -n`` lists exactly
  the out-of-date points, whatever the files' times.

Importing this module stays light (no torch), like :mod:`mmrs.experiments`.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

from . import EXPERIMENTS, Experiment, Point, all_points, repo_root, status

STAMPS = ".mmrs_cache/workflow/stamps"
"""Where the stamps live, relative to the repository root (``.mmrs_cache/`` is git-ignored)."""

RESULTS = ("book/results", "benchmarks/results")
"""The folders whose every record is a target."""


def targets() -> list[str]:
    """Every point's record (repository-relative), in the order of :func:`all_points`."""
    return [p.record for _, p in all_points()]


def points_by_record() -> dict[str, tuple[Experiment, Point]]:
    """Record path -> (experiment, point)."""
    return {p.record: (e, p) for e, p in all_points()}


def committed_records(root: Path | None = None) -> set[str]:
    """The records present under :data:`RESULTS` (repository-relative paths)."""
    root = root or repo_root()
    return {p.relative_to(root).as_posix() for area in RESULTS
            for p in (root / area).rglob("*.json")}


def threads(point: Point) -> int:
    """CPU threads a point's command uses: its ``--threads``/``--torch-threads`` value, else 1."""
    n = 1
    argv = list(point.argv)
    for flag in ("--threads", "--torch-threads"):
        if flag in argv[:-1]:
            n = max(n, int(argv[argv.index(flag) + 1]))
    return n


def shell_command(point: Point, python: str | None = None) -> str:
    """The point's command as one shell line, ``python`` replaced by ``python`` (default: this
    interpreter)."""
    argv = point.command()
    if argv and argv[0] == "python":
        argv = [python or sys.executable, *argv[1:]]
    return shlex.join(argv)


# --------------------------------------------------------------------------- staleness


def _registry_spec(dataset: dict):
    """The registry entry a record's ``dataset`` was read from: by name, else the one entry
    whose file names are exactly the record's (``fashion-sim-*`` are made from ``fashion-small``);
    None when there is none or more than one."""
    from ..data.registry import REGISTRY

    name = dataset.get("name")
    if name in REGISTRY:
        return REGISTRY[name]
    files = set(dataset.get("sha256") or {})
    matches = [spec for spec in REGISTRY.values() if files and set(spec.files) == files]
    return matches[0] if len(matches) == 1 else None


def data_state(point: Point, root: Path | None = None) -> str:
    """``stale (data: NAME changed)`` when the record's stored checksums differ from the
    registry's, else ``current`` (also when the record names no registered data: synthetic data
    is made by code the point depends on)."""
    path = (root or repo_root()) / point.record
    try:
        dataset = json.loads(path.read_text()).get("dataset") or {}
    except (OSError, ValueError):
        return "current"  # status() already says missing/invalid
    stored = dataset.get("sha256") or {}
    spec = _registry_spec(dataset) if isinstance(dataset, dict) else None
    if spec is None or not stored:
        return "current"
    if any(spec.files.get(name) != sha for name, sha in stored.items()) or \
            set(stored) != set(spec.files):
        return f"stale (data: {spec.name} changed)"
    return "current"


def state(point: Point, root: Path | None = None) -> str:
    """:func:`mmrs.experiments.status`, or the data check when the code says ``current``."""
    code = status(point, root)
    return code if code != "current" else data_state(point, root)


def out_of_date(point_state: str) -> bool:
    """Whether a point in this state is re-made (everything but ``current``)."""
    return point_state != "current"


def stamp_path(point: Point) -> str:
    """The point's stamp file, relative to the repository root."""
    return f"{STAMPS}/{point.record}.state"


def _write_if_changed(path: Path, text: str) -> None:
    if path.is_file() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".stamp-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_stamps(root: Path | None = None, write: bool = True) -> dict[str, str]:
    """Each point's state by record; with ``write``, its stamp file is (re)written when its state
    changed, and an out-of-date point's stamp is made newer than its record."""
    root = root or repo_root()
    states = {}
    for _, point in all_points():
        states[point.record] = s = state(point, root)
        if not write:
            continue
        stamp = root / stamp_path(point)
        _write_if_changed(stamp, s + "\n")
        record = root / point.record
        if out_of_date(s) and record.exists():
            newer = max(time.time(), record.stat().st_mtime + 1)
            if stamp.stat().st_mtime <= record.stat().st_mtime:
                os.utime(stamp, (newer, newer))
    return states


def ignore_snakemake_metadata(root: Path | None = None) -> None:
    """Keep Snakemake's ``.snakemake/`` folder out of ``git status`` (a ``.gitignore`` of ``*``
    inside it, as pytest does for its cache)."""
    folder = (root or repo_root()) / ".snakemake"
    folder.mkdir(exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# written by mmrs.experiments.workflow\n*\n")


def summary(states: dict[str, str]) -> str:
    """One line per experiment: how many of its points are out of date, and why."""
    lines = []
    for e in EXPERIMENTS.values():
        stale = [states[p.record] for p in e.points if out_of_date(states[p.record])]
        kinds: dict[str, int] = {}
        for s in stale:
            kinds[s.split(" (")[0]] = kinds.get(s.split(" (")[0], 0) + 1
        why = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        lines.append(f"{e.name:<16} {len(stale):>3}/{len(e.points):<3} out of date"
                     + (f" ({why})" if why else ""))
    return "\n".join(lines)


# --------------------------------------------------------------------------- the wall time


def record_seconds(record: dict) -> float | None:
    """Wall seconds the run that wrote ``record`` took, from what it states.

    ``timings.process_s`` (every record made since it exists) is the run's wall time. Older
    records are estimated from their parts: training records as ``epochs_run × (train + eval
    s/epoch) + test eval + data`` (summed over a train-set's runs), Chapter 6 as ``total_s``,
    Chapter 7 as the ladder plus feature seconds. ``None`` when the record says too little
    (older benchmark records).
    """
    t = record.get("timings") or {}
    if "process_s" in t:
        return float(t["process_s"])
    kind = record.get("kind")
    if kind == "train":
        body = record.get("body") or {}
        if "train_s_per_epoch" not in t or "epochs_run" not in body:
            return None
        per_epoch = t["train_s_per_epoch"] + t.get("eval_s_per_epoch", 0.0)
        return body["epochs_run"] * per_epoch + t.get("test_eval_s", 0.0) + t.get("data_s", 0.0)
    if kind == "train-set":
        runs = [record_seconds(r) for r in (record.get("body") or {}).get("runs", {}).values()]
        if not runs or any(r is None for r in runs):
            return None
        return sum(runs) + t.get("data_s", 0.0)
    if kind == "hierarchical" and "total_s" in t:
        return float(t["total_s"])
    if kind == "matching" and "ladder_seconds" in t:
        features = sum(v.get("seconds", 0.0) for v in (t.get("features") or {}).values()
                       if isinstance(v, dict))
        return float(t["ladder_seconds"]) + features
    return None


def schedule_makespan(jobs: list[tuple[float, int]], cores: int) -> float:
    """Wall time of ``jobs`` (seconds, threads) on ``cores`` cores, longest job first, each job
    started on the earliest-free cores it needs (the greedy LPT rule, within 4/3 of the optimum
    for single-core jobs; Graham 1969)."""
    free = [0.0] * cores
    for seconds, n in sorted(jobs, key=lambda j: -j[0]):
        n = min(max(n, 1), cores)
        free.sort()
        start = free[n - 1]
        for i in range(n):
            free[i] = start + seconds
    return max(free) if free else 0.0


def replication_wall_time(cores: int = 2, root: Path | None = None) -> dict:
    """The whole replication's cost from the committed records: CPU-seconds, the wall time on
    ``cores`` cores (:func:`schedule_makespan` over every point with its threads), and the points
    whose records do not state their time (not counted)."""
    from .. import records

    root = root or repo_root()
    jobs, unknown = [], []
    for _, point in all_points():
        path = root / point.record
        seconds = record_seconds(records.load(path)) if path.is_file() else None
        if seconds is None:
            unknown.append(point.record)
        else:
            jobs.append((seconds, threads(point)))
    return {
        "points": len(jobs) + len(unknown),
        "timed": len(jobs),
        "cpu_hours": sum(s * n for s, n in jobs) / 3600,
        "wall_hours": schedule_makespan(jobs, cores) / 3600,
        "cores": cores,
        "untimed": unknown,
    }
