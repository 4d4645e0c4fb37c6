"""An on-disk cache of feature arrays, written atomically and resumable in chunks.

Layout: ``<cache dir>/<encoder>/<dataset>/<ids hash>.npy`` where the cache dir is
``$MMRS_CACHE`` if set, else ``<repository>/data/cache`` when the package runs from a source
checkout (git-ignored), else ``~/.cache/mmrs``. The key is (encoder name, dataset name,
sha256 of the ids in order), so a different subset or order of items never reads a stale array.

Every write goes to a temporary file in the same folder and is moved into place with
``os.replace`` (atomic on POSIX), so a crash never leaves a truncated ``.npy`` under the final
name. Long extractions are computed in chunks; each finished chunk is saved as
``<hash>.part<start>-<stop>.npy`` (the positions ``ids[start:stop]`` it covers, so a part is
only reused for exactly those ids, whatever chunk size a later run uses) and an interrupted
run continues with the missing chunks.

Every array read back is checked: the final file and every part must load and have one row
per id. A file that fails the check (truncated, corrupt, wrong row count) is **recomputed**
and overwritten, not trusted and not an error.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

CACHE_ENV = "MMRS_CACHE"
_SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


def cache_dir() -> Path:
    """The cache root: ``$MMRS_CACHE``, else ``<repo>/data/cache`` in a checkout, else ``~/.cache/mmrs``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[3]
    if (repo / "pyproject.toml").is_file() and (repo / "src" / "mmrs").is_dir():
        return repo / "data" / "cache"
    return Path.home() / ".cache" / "mmrs"


def ids_hash(ids: Sequence[object]) -> str:
    """sha256 (first 16 hex digits) of the ids in order, each as ``str`` joined by newlines."""
    digest = hashlib.sha256("\n".join(str(i) for i in ids).encode("utf-8"))
    return digest.hexdigest()[:16]


def _check_name(kind: str, value: str) -> str:
    if not _SAFE.match(value):
        raise ValueError(f"{kind} {value!r} must use only letters, digits, '.', '_' and '-'")
    return value


def cache_path(encoder: str, dataset: str, ids: Sequence[object], root: Path | None = None) -> Path:
    """Where the features of ``ids`` (in this order) under ``encoder`` on ``dataset`` live."""
    root = Path(root) if root is not None else cache_dir()
    return (
        root
        / _check_name("encoder", encoder)
        / _check_name("dataset", dataset)
        / f"{ids_hash(ids)}.npy"
    )


def atomic_save(path: Path, array: np.ndarray) -> Path:
    """Save ``array`` to ``path`` (``.npy``) via a temporary file and ``os.replace``.

    If anything fails while writing, the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, np.asarray(array), allow_pickle=False)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; cached arrays are not secrets
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _part_path(path: Path, start: int, stop: int) -> Path:
    """The part file next to ``path`` holding the features of ``ids[start:stop]``."""
    return path.with_name(f"{path.stem}.part{start:08d}-{stop:08d}.npy")


def _load_rows(path: Path, rows: int) -> np.ndarray | None:
    """``path`` as an array with ``rows`` rows, or ``None`` if missing, unreadable or mis-sized."""
    if not path.is_file():
        return None
    try:
        values = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None  # truncated or not a .npy file
    if values.ndim == 0 or len(values) != rows:
        return None
    return values


def cached_features(
    encoder: str,
    dataset: str,
    ids: Sequence[object],
    compute: Callable[[Sequence[object]], np.ndarray],
    chunk_size: int | None = None,
    root: Path | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Features of ``ids``: read from the cache, else ``compute(ids)`` and store.

    With ``chunk_size``, ``compute`` is called on consecutive chunks of ids; finished chunks
    are kept as part files named by the id positions they cover
    (``<hash>.part<start>-<stop>.npy``), so an interrupted run resumes where it stopped, also
    with another ``chunk_size`` (a part that does not cover exactly one of the new chunks is not
    reused). ``compute`` must return one row per id. A cached file or part that cannot be read
    or has the wrong number of rows is recomputed (and overwritten). All writes are atomic
    (:func:`atomic_save`); the parts are deleted once the full array is saved.
    """
    ids = list(ids)
    path = cache_path(encoder, dataset, ids, root)
    cached = _load_rows(path, len(ids))
    if cached is not None:
        return cached
    size = chunk_size or max(len(ids), 1)
    if size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    starts = list(range(0, len(ids), size))
    parts = []
    for start in tqdm(
        starts,
        desc=f"{encoder} chunks",
        disable=not progress or len(starts) < 2,
        file=sys.stderr,
    ):
        chunk = ids[start : start + size]
        part = _part_path(path, start, start + len(chunk))
        values = _load_rows(part, len(chunk)) if len(starts) > 1 else None
        if values is None:
            values = np.asarray(compute(chunk))
            if values.ndim == 0 or len(values) != len(chunk):
                raise ValueError(
                    f"compute returned shape {values.shape} for {len(chunk)} ids (one row each)"
                )
            if len(starts) > 1:
                atomic_save(part, values)
        parts.append(values)
    features = np.concatenate(parts) if parts else np.asarray(compute([]))
    atomic_save(path, features)
    for stale in path.parent.glob(f"{path.stem}.part*.npy"):  # any chunk size, old names too
        stale.unlink(missing_ok=True)
    return features


def write_mmrec_features(
    folder: Path,
    image_feat: np.ndarray | None = None,
    text_feat: np.ndarray | None = None,
    n_items: int | None = None,
) -> dict[str, Path]:
    """Write MMRec's ``image_feat.npy`` / ``text_feat.npy`` (row i = item id i), atomically.

    Rows must already be in item-id order; the two arrays (and ``n_items`` when given) must
    agree on the number of rows. Returns ``{file name: path}``.
    """
    arrays = {"image_feat.npy": image_feat, "text_feat.npy": text_feat}
    arrays = {name: np.asarray(a, dtype=np.float32) for name, a in arrays.items() if a is not None}
    if not arrays:
        raise ValueError("give image_feat, text_feat or both")
    rows = {name: a.shape[0] for name, a in arrays.items()}
    for name, a in arrays.items():
        if a.ndim != 2:
            raise ValueError(f"{name} must be 2-d (items × dims), got shape {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"{name} has non-finite values")
    expected = n_items if n_items is not None else next(iter(rows.values()))
    if any(r != expected for r in rows.values()):
        raise ValueError(f"row counts differ: {rows} (expected {expected} items)")
    return {name: atomic_save(Path(folder) / name, a) for name, a in arrays.items()}
