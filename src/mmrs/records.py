"""One record schema for every result the book shows: training runs, sets of runs, matching,
hierarchical retrieval and benchmarks.

A record is a JSON object. Every record has the same **envelope**::

    schema_version  1
    kind            "train" | "train-set" | "matching" | "hierarchical" | "benchmark" | "attribution"
    dataset         {"name", "source", "sha256", "sizes"}   what the numbers were measured on
    model           the model's name, or null
    config          every setting that shaped the result (model and training/experiment settings)
    seeds           {"model": 2023, "split": ..., "simulation": ...}  every seed used
    metrics         the measured quality (kind-specific shape, see below)
    timings         seconds (per epoch, per stage, totals)
    peak_rss_mb     peak resident memory of the process, or null when not measured
    command         the command line that made it;  argv: the same as a list (or null)
    git             {"revision": sha or null, "dirty": bool or null (null: not recorded)}
    versions        {"python", "torch", "numpy", ...}
    machine         {"platform", "processor", "cpu_count", "torch_threads", ...}
    created_utc     ISO time, or null when not recorded
    body            what only this kind has (e.g. a training run's history)

Kind-specific requirements (checked by :func:`validate`):

* ``train``: ``metrics.valid`` and ``metrics.test`` (``{"recall@20": ...}``, values in [0, 1]);
  ``body.best_epoch``, ``body.epochs_run`` (ints), ``body.stopped_early`` (bool), ``body.history``.
* ``train-set``: ``body.runs``, a mapping ``variant -> train record`` (each validated).
* ``matching``: ``metrics.ladder``, a list of rows with a ``step`` name.
* ``hierarchical``: ``metrics.levels``.
* ``attribution``: ``metrics.markets`` and ``body.planted`` (the simulation's true weights).
* ``benchmark``: nothing beyond the envelope.

:func:`save` writes atomically (temporary file in the same folder, fsync, ``os.replace``; NaN and
infinity rejected, so the file is always valid JSON) after validating; :func:`load` validates and
names the file and the field on error; :func:`find` locates a committed record by name from a
checkout, an installed wheel or a notebook opened alone.

Deliberately hand-written (no ``jsonschema``/``pydantic``): the checks are a few dozen lines, and
the error message format (file, field, problem, fix) is part of the book's contract.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .provenance import (  # noqa: F401 (re-exported: the record's provenance is built there)
    SCHEMA_VERSION,
    current_argv,
    dataset_entry,
    machine,
    new_record,
    versions,
)

KINDS: tuple[str, ...] = ("train", "train-set", "matching", "hierarchical", "benchmark",
                          "attribution")
ENVELOPE: tuple[str, ...] = (
    "schema_version",
    "kind",
    "dataset",
    "model",
    "config",
    "seeds",
    "metrics",
    "timings",
    "peak_rss_mb",
    "command",
    "argv",
    "git",
    "versions",
    "machine",
    "created_utc",
    "body",
)
RECORDS_ENV = "MMRS_RECORDS"
"""A folder that holds ``book/results`` and ``benchmarks/results`` (or is itself a results folder);
searched first by :func:`find`."""

Record = dict[str, Any]


class RecordError(ValueError):
    """A record does not follow the schema; the message names the file and the field."""


# --------------------------------------------------------------------------- validation


def _fail(where: str, field: str, problem: str) -> RecordError:
    return RecordError(f"{where}: field {field!r} {problem}")


def _check_finite(value: Any, where: str, path: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(where, path, f"is {value}; records hold finite numbers only (use null)")
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise _fail(where, f"{path}.{k}" if path else k, "has a non-string key")
            _check_finite(v, where, f"{path}.{k}" if path else k)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_finite(v, where, f"{path}[{i}]")


def _expect(record: Mapping, key: str, types: type | tuple[type, ...], where: str,
            prefix: str = "", allow_none: bool = False) -> Any:
    name = f"{prefix}{key}"
    if key not in record:
        raise _fail(where, name, "is missing")
    value = record[key]
    if value is None and allow_none:
        return value
    if not isinstance(value, types) or (types is int and isinstance(value, bool)):
        got = type(value).__name__
        want = types.__name__ if isinstance(types, type) else "/".join(t.__name__ for t in types)
        raise _fail(where, name, f"is a {got}, expected {want}{' or null' if allow_none else ''}")
    return value


def _check_split_metrics(metrics: Mapping, split: str, where: str, prefix: str) -> None:
    values = _expect(metrics, split, dict, where, f"{prefix}metrics.")
    if not values:
        raise _fail(where, f"{prefix}metrics.{split}", "is empty")
    for name, v in values.items():
        if not isinstance(v, int | float) or isinstance(v, bool):
            raise _fail(where, f"{prefix}metrics.{split}.{name}", f"is {v!r}, expected a number")
        if "@" in name and not 0.0 <= v <= 1.0:
            raise _fail(where, f"{prefix}metrics.{split}.{name}", f"is {v}, outside [0, 1]")


def validate(record: Any, where: str = "<record>", prefix: str = "") -> None:
    """Raise :class:`RecordError` naming ``where`` (a file) and the field when ``record`` does not
    follow the schema (module docstring); return ``None`` when it does."""
    if not isinstance(record, Mapping):
        raise RecordError(f"{where}: a record is a JSON object, got {type(record).__name__}")
    version = _expect(record, "schema_version", int, where, prefix)
    if version != SCHEMA_VERSION:
        raise _fail(where, f"{prefix}schema_version",
                    f"is {version}, this code reads {SCHEMA_VERSION} (migrate with "
                    "scripts/migrate_records.py)")
    kind = _expect(record, "kind", str, where, prefix)
    if kind not in KINDS:
        raise _fail(where, f"{prefix}kind", f"is {kind!r}; choose one of {KINDS}")
    unknown = sorted(set(record) - set(ENVELOPE))
    if unknown:
        raise _fail(where, f"{prefix}{unknown[0]}",
                    f"is not part of the schema (top-level fields: {', '.join(ENVELOPE)}); "
                    "kind-specific data belongs in 'body'")
    dataset = _expect(record, "dataset", dict, where, prefix)
    _expect(dataset, "name", str, where, f"{prefix}dataset.")
    _expect(dataset, "source", str, where, f"{prefix}dataset.", allow_none=True)
    _expect(dataset, "sha256", dict, where, f"{prefix}dataset.", allow_none=True)
    _expect(dataset, "sizes", dict, where, f"{prefix}dataset.")
    _expect(record, "model", str, where, prefix, allow_none=True)
    for key in ("config", "seeds", "metrics", "timings", "versions", "machine", "body", "git"):
        _expect(record, key, dict, where, prefix)
    for key, value in record["seeds"].items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(where, f"{prefix}seeds.{key}", f"is {value!r}, expected an integer seed")
    _expect(record, "peak_rss_mb", int | float, where, prefix, allow_none=True)
    _expect(record, "command", str, where, prefix)
    _expect(record, "argv", list, where, prefix, allow_none=True)
    _expect(record["git"], "revision", str, where, f"{prefix}git.", allow_none=True)
    _expect(record["git"], "dirty", bool, where, f"{prefix}git.", allow_none=True)
    _expect(record, "created_utc", str, where, prefix, allow_none=True)
    _check_finite(dict(record), where, prefix.rstrip("."))
    metrics, body = record["metrics"], record["body"]
    if kind == "train":
        _check_split_metrics(metrics, "valid", where, prefix)
        _check_split_metrics(metrics, "test", where, prefix)
        _expect(body, "best_epoch", int, where, f"{prefix}body.")
        _expect(body, "epochs_run", int, where, f"{prefix}body.")
        _expect(body, "stopped_early", bool, where, f"{prefix}body.")
        _expect(body, "history", list, where, f"{prefix}body.")
        if body["best_epoch"] > body["epochs_run"]:
            raise _fail(where, f"{prefix}body.best_epoch",
                        f"is {body['best_epoch']}, after the last epoch run ({body['epochs_run']})")
    elif kind == "train-set":
        runs = _expect(body, "runs", dict, where, f"{prefix}body.")
        if not runs:
            raise _fail(where, f"{prefix}body.runs", "is empty")
        for variant, run in runs.items():
            validate(run, where, f"{prefix}body.runs.{variant}.")
            if run["kind"] != "train":
                raise _fail(where, f"{prefix}body.runs.{variant}.kind", "must be 'train'")
    elif kind == "matching":
        ladder = _expect(metrics, "ladder", list, where, f"{prefix}metrics.")
        for i, row in enumerate(ladder):
            if not isinstance(row, dict) or "step" not in row:
                raise _fail(where, f"{prefix}metrics.ladder[{i}]", "needs a 'step' name")
    elif kind == "hierarchical":
        _expect(metrics, "levels", dict, where, f"{prefix}metrics.")
    elif kind == "attribution":
        _expect(metrics, "markets", dict, where, f"{prefix}metrics.")
        _expect(body, "planted", dict, where, f"{prefix}body.")


# --------------------------------------------------------------------------- files


def dumps(record: Record) -> str:
    """The JSON text of a valid record (indent 2, NaN rejected, newline-terminated)."""
    return json.dumps(record, indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically: temporary file in the same folder, fsync, replace.
    A reader sees the old file or the new one, never half of one; on error nothing is left."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False,
        encoding="utf-8",
    )
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(handle.name)
        raise
    return path


def save(record: Record, path: str | Path) -> Path:
    """Validate ``record`` and write it atomically to ``path`` (see :func:`write_text_atomic`)."""
    validate(record, str(path))
    return write_text_atomic(path, dumps(record))


def _reject_constant(value: str) -> Any:
    raise ValueError(f"{value} is not valid JSON")


def load(path: str | Path) -> Record:
    """Read and validate the record at ``path``; errors name the file and the field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecordError(f"{path}: no such record") from None
    try:
        record = json.loads(text, parse_constant=_reject_constant)
    except ValueError as error:
        raise RecordError(f"{path}: not valid JSON ({error})") from None
    validate(record, str(path))
    return record


# --------------------------------------------------------------------------- lookup


def _package_records() -> Path | None:
    """``mmrs/_records`` shipped inside an installed wheel (present only in a built package)."""
    folder = Path(__file__).resolve().parent / "_records"
    return folder if folder.is_dir() else None


def search_folders(area: str = "book") -> list[Path]:
    """Folders :func:`find` searches for ``area`` (``"book"`` or ``"benchmarks"``), in order:
    ``$MMRS_RECORDS`` (``<it>/<area>/results`` or itself), ``./results`` (a chapter's folder),
    ``<cwd or a parent>/<area>/results``, this checkout's ``<area>/results`` and the records shipped
    inside the installed package."""
    if area not in ("book", "benchmarks"):
        raise ValueError(f"area must be 'book' or 'benchmarks', got {area!r}")
    out: list[Path] = []
    env = os.environ.get(RECORDS_ENV)
    if env:
        out += [Path(env) / area / "results", Path(env)]
    cwd = Path.cwd()
    if area == "book":
        out.append(cwd / "results")
    out += [p / area / "results" for p in (cwd, *cwd.parents)]
    out.append(Path(__file__).resolve().parents[2] / area / "results")
    packaged = _package_records()
    if packaged is not None:
        out.append(packaged / area)
    seen: list[Path] = []
    for p in out:
        if p not in seen:
            seen.append(p)
    return seen


def find(name: str, area: str = "book") -> Path:
    """The path of the committed record ``name`` (e.g. ``"bm3_amazon-baby.json"`` or
    ``"grid/bpr_amazon-sports_reg0.1.json"``): the first of :func:`search_folders` that has it.

    Raises :class:`FileNotFoundError` naming the folders searched and how to make the record.
    """
    folders = search_folders(area)
    for folder in folders:
        path = folder / name
        if path.is_file():
            return path
    searched = ", ".join(str(f) for f in folders if f.is_dir()) or "none of the usual folders exist"
    raise FileNotFoundError(
        f"record {name!r} not found (searched: {searched}). Set {RECORDS_ENV} to a checkout of "
        "the book, or make it with `python -m mmrs run --list` (which names its command)."
    )


def results_folder(area: str = "book") -> Path:
    """The first existing ``<area>/results`` folder of :func:`search_folders` (where the
    committed records live)."""
    for folder in search_folders(area):
        if folder.is_dir() and (folder.name == "results" or folder.name == area):
            return folder
    raise FileNotFoundError(f"no {area}/results folder found; set {RECORDS_ENV}")


def load_named(name: str, area: str = "book") -> Record:
    """:func:`load` of :func:`find` ``(name, area)``."""
    return load(find(name, area))


def load_folder(folder: str | Path, kinds: Iterable[str] | None = None,
                recursive: bool = True) -> list[Record]:
    """Every record in ``folder`` (and its sub-folders), sorted by relative path; each gets a
    ``_file`` key with that path (``grid/x.json``). ``kinds`` keeps only those kinds."""
    folder = Path(folder)
    wanted = set(kinds) if kinds is not None else None
    pattern = "**/*.json" if recursive else "*.json"
    out = []
    for path in sorted(folder.glob(pattern), key=lambda p: p.relative_to(folder).as_posix()):
        record = load(path)
        if wanted is None or record["kind"] in wanted:
            record["_file"] = path.relative_to(folder).as_posix()
            out.append(record)
    return out


def flatten_runs(records: Iterable[Record]) -> list[Record]:
    """Training records: each ``train`` record as is, each ``train-set`` record's runs (with
    ``_file`` = ``<file>#<variant>`` and ``body.variant`` set)."""
    out = []
    for r in records:
        if r["kind"] == "train":
            out.append(r)
        elif r["kind"] == "train-set":
            for variant, run in r["body"]["runs"].items():
                run = dict(run)
                run["_file"] = f"{r.get('_file', '')}#{variant}"
                out.append(run)
    return out


BENCHMARK_CONFIG_KEYS: tuple[str, ...] = (
    "benchmark", "settings", "batch_size", "epochs", "torch_threads", "threads",
)
"""Keys of a benchmark script's result that are settings (they go to ``config``)."""


def benchmark_record(result: Mapping[str, Any], dataset: Mapping[str, Any] | str,
                     command: str | None = None) -> Record:
    """A ``benchmark`` record from a benchmark script's ``result`` dict: the settings
    (:data:`BENCHMARK_CONFIG_KEYS`) go to ``config``, everything else to ``body``; provenance is
    filled in by :func:`new_record` (``command`` defaults to this process's command line)."""
    if isinstance(dataset, str):
        dataset = dataset_entry(dataset)
    config = {k: result[k] for k in BENCHMARK_CONFIG_KEYS if k in result}
    body = {k: v for k, v in result.items()
            if k not in config and k not in ("machine", "git_revision", "command", "dataset")}
    return new_record("benchmark", dataset=dataset, config=config, metrics={}, body=body,
                      command=command)
