"""Where a result came from: the code (git revision, dirty flag), the command line, the package
versions and the machine, and :func:`new_record`, which puts them around a result in the one
record schema (:mod:`mmrs.records` validates, writes and finds records).

Every record (training, matching, hierarchical retrieval, benchmarks) carries these, so a number
in the book can be traced to the exact code and to whether uncommitted edits were present.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
"""Version of the record schema (:mod:`mmrs.records`)."""

Record = dict[str, Any]

_HERE = Path(__file__).resolve().parent


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=_HERE, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout


def git_revision() -> str | None:
    """``git rev-parse HEAD`` of the repository holding this package; ``None`` if unknown."""
    out = _git("rev-parse", "HEAD")
    if out is None:
        return None
    return out.strip() or None


def git_dirty() -> bool | None:
    """Whether tracked files differ from ``HEAD`` (untracked files, e.g. new records, do not count)."""
    out = _git("status", "--porcelain", "--untracked-files=no")
    return None if out is None else bool(out.strip())


_STARTED_WITH: dict[str, Any] | None = None
_PROCESS_START = time.time()
"""When this module was first imported: at the start of every runner (they import it at the top),
so ``time.time() - _PROCESS_START`` when a record is made is the run's wall time so far."""


def git_state() -> dict[str, Any]:
    """``{"revision", "dirty"}`` of the code this process started with: computed at the first
    call and kept, so a record made at the end of a long run states the tree the run began from
    (runners call it before they load data), not edits made while it ran."""
    global _STARTED_WITH
    if _STARTED_WITH is None:
        _STARTED_WITH = {"revision": git_revision(), "dirty": git_dirty()}
    return dict(_STARTED_WITH)


PACKAGES: tuple[str, ...] = (
    "mmrs", "numpy", "scipy", "torch", "pandas", "faiss-cpu", "scikit-learn", "open-clip-torch",
    "timm", "sentence-transformers", "torch-geometric",
)
"""Distributions whose installed versions every record states (those that are installed)."""


def versions() -> dict[str, str]:
    """Versions of Python and of the installed :data:`PACKAGES` (from the installed metadata,
    so the answer does not depend on which modules this process happened to import)."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


MALLOC_SETTINGS = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_")
"""glibc allocator settings (environment) that change timings, never numbers: ``make replicate``
sets them so large tensors are not handed back to the OS and faulted in again every batch."""


def machine() -> dict[str, Any]:
    """Platform, processor, CPU count, (if torch is imported) its thread count, and the
    :data:`MALLOC_SETTINGS` in this process's environment (``malloc``, only when any is set)."""
    out: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch_threads"] = torch.get_num_threads()
    malloc = {k: os.environ[k] for k in MALLOC_SETTINGS if k in os.environ}
    if malloc:
        out["malloc"] = malloc
    return out


def current_argv() -> list[str]:
    """This process's command line as a list, ``python -m module`` spelled out when run with -m."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        module = spec.name.removesuffix(".__main__")
        return ["python", "-m", module, *sys.argv[1:]]
    return ["python", sys.argv[0], *sys.argv[1:]] if sys.argv and sys.argv[0] else []


def new_record(
    kind: str,
    *,
    dataset: Mapping[str, Any],
    config: Mapping[str, Any],
    metrics: Mapping[str, Any],
    model: str | None = None,
    seeds: Mapping[str, Any] | None = None,
    timings: Mapping[str, Any] | None = None,
    body: Mapping[str, Any] | None = None,
    argv: list[str] | None = None,
    command: str | None = None,
    peak_rss_mb: float | None = None,
) -> Record:
    """A record of ``kind`` in :mod:`mmrs.records`' schema with the provenance filled in (git
    revision and dirty flag, versions, machine, time, command line) and ``timings.process_s``, the
    seconds since the process started (for the last record a run writes: its wall time). ``argv`` defaults to this
    process's; ``command`` to ``shlex.join(argv)``. Built here, at the bottom layer, so that the
    trainer can make records; checked by :func:`mmrs.records.validate` when saved."""
    argv = list(argv) if argv is not None else current_argv()
    record: Record = {
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "dataset": dict(dataset),
        "model": model,
        "config": dict(config),
        "seeds": dict(seeds or {}),
        "metrics": dict(metrics),
        "timings": {"process_s": round(time.time() - _PROCESS_START, 3), **(timings or {})},
        "peak_rss_mb": peak_rss_mb,
        "command": command if command is not None else shlex.join(argv),
        "argv": argv,
        "git": git_state(),
        "versions": versions(),
        "machine": machine(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "body": dict(body or {}),
    }
    return record


def dataset_entry(
    name: str,
    source: str | None = None,
    sha256: Mapping[str, str] | None = None,
    sizes: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The ``dataset`` field: ``name`` (a registry name, or the folder path for other folders),
    ``source`` (folder or description), ``sha256`` (relative file -> hex), ``sizes`` and extras
    (e.g. ``simulation`` parameters)."""
    return {"name": name, "source": source, "sha256": dict(sha256) if sha256 else None,
            "sizes": dict(sizes or {}), **extra}
