"""Fetch the registry's datasets as archives the project publishes itself, and build them.

``python -m mmrs data fetch NAME`` (or :func:`fetch`) downloads ``NAME.tar.gz`` from one base URL
(``$MMRS_DATA_URL``, default: the repository's release assets, :data:`DEFAULT_BASE_URL`) with
pooch, checks the archive's sha256 (listed in ``archives.json`` beside this module), extracts it
safely (no absolute paths, no ``..``, no links or devices, nothing outside the destination) into a
temporary folder, checks every file against the registry's sha256 and only then moves the files
into place under ``$MMRS_DATA`` (or the per-user data folder, :func:`mmrs.data.registry.
user_data_dir`). A failed or altered download leaves nothing behind: run the command again.

Only datasets whose licence allows it (:attr:`DatasetSpec.redistribute`) are published. For the
others :func:`fetch` says where to get the original files and how to check them
(``python -m mmrs data verify NAME``); it downloads them only from a mirror you name yourself
(``base_url`` or ``$MMRS_DATA_URL``), e.g. a course server holding a copy you may use.

``python -m mmrs data pack NAME`` (or :func:`pack`) writes the archive from a verified local
copy, deterministically (sorted members, mtime 0, owner 0/"", mode 0644, gzip header mtime 0), so
the same files always give the same archive sha256 for a given zlib.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import sys
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from .registry import (
    DATA_ENV,
    REGISTRY,
    DatasetError,
    DatasetSpec,
    dataset_path,
    get_spec,
    how_to_get,
    sha256sum,
    user_data_dir,
    verify_file,
)

URL_ENV = "MMRS_DATA_URL"
DEFAULT_BASE_URL = "https://github.com/mmrs-book/mmrs-book/releases/download/data-v1/"
"""Where the published archives live: the repository's release assets."""

ARCHIVES_FILE = Path(__file__).with_name("archives.json")
"""``{name: {"file", "sha256", "bytes"}}`` of the published archives (written by ``pack``)."""

ALL = "all"
_GZIP_LEVEL = 9


# --- settings -----------------------------------------------------------------------------------


def cache_folder() -> Path:
    """Where downloaded archives are kept: ``pooch.os_cache("mmrs") / "archives"``."""
    import pooch

    return Path(pooch.os_cache("mmrs")) / "archives"


def resolve_base_url(base_url: str | None = None) -> str:
    """``base_url``, else ``$MMRS_DATA_URL``, else :data:`DEFAULT_BASE_URL`; ends with ``/``."""
    url = base_url or os.environ.get(URL_ENV) or DEFAULT_BASE_URL
    return url if url.endswith("/") else url + "/"


def default_dest() -> Path:
    """``$MMRS_DATA`` if set, else the per-user data folder."""
    value = os.environ.get(DATA_ENV)
    return Path(value).expanduser() if value else user_data_dir()


def archive_file_name(name: str) -> str:
    return f"{name}.tar.gz"


def load_archives() -> dict[str, dict[str, Any]]:
    """The published archives' records (empty when ``archives.json`` is absent)."""
    if not ARCHIVES_FILE.is_file():
        return {}
    return json.loads(ARCHIVES_FILE.read_text(encoding="utf-8"))


def archive_info(name: str) -> dict[str, Any]:
    """``{"file", "sha256", "bytes"}`` of dataset ``name``'s archive; DatasetError if none."""
    info = load_archives().get(name)
    if info is None:
        raise DatasetError(
            f"Dataset {name!r} has no archive record in {ARCHIVES_FILE.name}: the maintainers "
            f"build it with `python -m mmrs data pack {name} --out-dir DIR --update-registry`."
        )
    return info


# --- pack ---------------------------------------------------------------------------------------


def _tarinfo(arcname: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(arcname)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


def write_archive(spec: DatasetSpec, folder: Path, target: Path) -> Path:
    """Write ``target`` (a ``.tar.gz``) holding ``<spec.folder>/<file>`` for every registry file
    of ``spec`` found in ``folder``, deterministically; written to a temporary name first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    try:
        with open(partial, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                               compresslevel=_GZIP_LEVEL) as compressed:
                with tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    for relpath in sorted(spec.files):
                        path = folder / relpath
                        with open(path, "rb") as handle:
                            size = os.fstat(handle.fileno()).st_size
                            tar.addfile(_tarinfo(f"{spec.folder}/{relpath}", size), handle)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def archive_record(path: Path) -> dict[str, Any]:
    """``{"file", "sha256", "bytes"}`` of an archive on disk."""
    return {"file": path.name, "sha256": sha256sum(path), "bytes": path.stat().st_size}


def update_archives(name: str, record: dict[str, Any]) -> None:
    """Write ``record`` as dataset ``name``'s entry of ``archives.json`` (sorted, stable)."""
    records = load_archives()
    records[name] = record
    text = json.dumps(dict(sorted(records.items())), indent=2, sort_keys=True) + "\n"
    partial = ARCHIVES_FILE.with_name(f".{ARCHIVES_FILE.name}.part")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, ARCHIVES_FILE)


def pack(name: str, out_dir: str | Path, update_registry: bool = False) -> Path:
    """Pack dataset ``name`` from its verified local copy into ``out_dir/<name>.tar.gz``.

    Every file is checked against the registry first (:func:`dataset_path`). With
    ``update_registry`` the archive's sha256 and size are written into ``archives.json``.
    Returns the archive's path."""
    spec = get_spec(name)
    folder = dataset_path(name)  # verifies every file
    target = write_archive(spec, folder, Path(out_dir).expanduser() / archive_file_name(name))
    if update_registry:
        update_archives(name, archive_record(target))
    return target


# --- safe extraction ----------------------------------------------------------------------------


def _refusal(member: tarfile.TarInfo, root: Path) -> str | None:
    """Why ``member`` must not be extracted under ``root`` (None when it is safe)."""
    name = member.name
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive:
        return "is an absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "contains '..'"
    if member.issym() or member.islnk():
        return "is a link"
    if member.isdev():
        return "is a device or fifo"
    if not (member.isfile() or member.isdir()):
        return "is not a regular file"
    try:
        (root / name).resolve().relative_to(root.resolve())
    except ValueError:
        return "resolves outside the destination"
    return None


def extract_archive(archive: Path, dest: Path, spec: DatasetSpec) -> Path:
    """Extract ``archive`` (a published ``.tar.gz`` of ``spec``) into ``dest/<spec.folder>``.

    Every member is checked before anything is written: an absolute path, a ``..``, a link, a
    device or a path outside ``dest`` refuses the whole archive, as do members that are not the
    registry's files. The files are written into a temporary folder inside ``dest``, checked
    against the registry's sha256 and only then moved into place (each with an atomic rename);
    on any error nothing new is left in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    expected = {f"{spec.folder}/{relpath}": relpath for relpath in spec.files}
    prefixes = {str(parent) for key in expected for parent in PurePosixPath(key).parents}
    scratch = Path(tempfile.mkdtemp(prefix=".mmrs-fetch-", dir=dest))
    where = f"Dataset {spec.name!r}: archive {archive.name} refused"
    try:
        try:
            with tarfile.open(archive, mode="r:gz") as tar:
                members = tar.getmembers()
                for member in members:
                    reason = _refusal(member, scratch)
                    if reason is not None:
                        raise DatasetError(
                            f"{where}: member {member.name!r} {reason}; nothing was extracted."
                        )
                files = {m.name: m for m in members if m.isfile()}
                extra = sorted(
                    m.name for m in members
                    if (m.isfile() and m.name not in expected)
                    or (m.isdir() and m.name.rstrip("/") not in prefixes)
                )
                missing = sorted(set(expected) - set(files))
                if extra or missing:
                    detail = "; ".join(
                        part for part in (
                            f"unexpected members {extra}" if extra else "",
                            f"missing {missing}" if missing else "",
                        ) if part
                    )
                    raise DatasetError(f"{where}: {detail}; nothing was extracted.")
                for arcname in sorted(expected):
                    target = scratch / arcname
                    target.parent.mkdir(parents=True, exist_ok=True)
                    source = tar.extractfile(files[arcname])
                    assert source is not None  # a regular file
                    with source, open(target, "wb") as out:
                        shutil.copyfileobj(source, out, 1 << 20)
        except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
            raise DatasetError(
                f"Dataset {spec.name!r}: archive {archive.name} could not be extracted "
                f"({type(err).__name__}: {err}); nothing was extracted."
            ) from None
        for arcname, relpath in sorted(expected.items()):
            actual = sha256sum(scratch / arcname)
            if actual != spec.files[relpath]:
                raise DatasetError(
                    f"Dataset {spec.name!r}: file {relpath!r} in archive {archive.name} has sha256 "
                    f"{actual}, expected {spec.files[relpath]}; nothing was extracted."
                )
        final = dest / spec.folder
        final.mkdir(parents=True, exist_ok=True)
        for arcname, relpath in sorted(expected.items()):
            target = final / relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(scratch / arcname, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return final


# --- fetch --------------------------------------------------------------------------------------


def is_present(spec: DatasetSpec, dest: Path) -> bool:
    """True when every file of ``spec`` is under ``dest/<spec.folder>`` and verified."""
    folder = dest / spec.folder
    try:
        for relpath in spec.files:
            verify_file(spec, relpath, folder / relpath)
    except DatasetError:
        return False
    return True


def download(name: str, base_url: str | None = None, progress: bool = False,
             cache_dir: str | Path | None = None) -> Path:
    """Download (or reuse from the cache) dataset ``name``'s archive, checked by sha256.

    A mismatch or a broken connection raises :class:`DatasetError`; pooch deletes the partial or
    bad download, so nothing is left in the cache and a rerun starts clean."""
    import pooch
    import requests

    info = archive_info(name)
    url = resolve_base_url(base_url) + info["file"]
    cache = Path(cache_dir).expanduser() if cache_dir is not None else cache_folder()
    if progress:
        print(f"{name}: {url} -> {cache / info['file']}", file=sys.stderr)
    logger = pooch.get_logger()  # its handler holds the sys.stderr of pooch's import: mute it
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        path = pooch.retrieve(
            url,
            known_hash=f"sha256:{info['sha256']}",
            fname=info["file"],
            path=cache,
            progressbar=progress,
        )
    except ValueError as err:  # hash mismatch: pooch has deleted the download
        raise DatasetError(
            f"Dataset {name!r}: the archive downloaded from {url} does not match the registry's "
            f"sha256 {info['sha256']}; it was deleted and nothing was extracted ({err})"
        ) from None
    except requests.exceptions.RequestException as err:
        raise DatasetError(
            f"Dataset {name!r}: downloading {url} failed ({type(err).__name__}: {err}); nothing "
            f"was kept, run the command again to retry (base URL: ${URL_ENV} or --base-url)."
        ) from None
    finally:
        logger.setLevel(level)
    return Path(path)


def fetch(name: str, base_url: str | None = None, dest: str | Path | None = None,
          progress: bool = False, cache_dir: str | Path | None = None) -> Path:
    """Get dataset ``name`` into ``dest`` (default ``$MMRS_DATA``, else the per-user data
    folder) and return its folder; ``"all"`` fetches every redistributable dataset and returns
    ``dest``.

    A dataset already there and verified is not downloaded again. A dataset the book does not
    redistribute is downloaded only from a mirror named by ``base_url`` or ``$MMRS_DATA_URL``;
    otherwise :class:`DatasetError` says where to get it and how to verify it."""
    root = Path(dest).expanduser() if dest is not None else default_dest()
    if name == ALL:
        for spec in sorted(REGISTRY.values(), key=lambda s: s.name):
            if spec.redistribute:
                fetch(spec.name, base_url=base_url, dest=root, progress=progress,
                      cache_dir=cache_dir)
        return root
    spec = get_spec(name)
    if is_present(spec, root):
        return root / spec.folder
    mirror = base_url or os.environ.get(URL_ENV)
    if not spec.redistribute and not mirror:
        folder = root / spec.folder
        raise DatasetError(
            f"Dataset {name!r} is not in {folder}. {how_to_get(spec, folder)}"
        )
    archive = download(name, base_url=base_url, progress=progress, cache_dir=cache_dir)
    return extract_archive(archive, root, spec)


def verify(name: str) -> Path:
    """Check dataset ``name`` under the data folder against the registry; its folder."""
    return dataset_path(name)
