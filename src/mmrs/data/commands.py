"""``python -m mmrs data verify|fetch|pack NAME|all``: the CLI's dataset commands.

:func:`main` takes the parsed arguments of the ``data`` subcommand (``args.action``,
``args.name`` and, where the parser has them, ``args.base_url``, ``args.out_dir``,
``args.update_registry``, ``args.no_progress``). A user error (a missing or altered dataset, a
failed download, an unknown name) prints one line ``mmrs: error: ...`` on stderr and returns 2.

- ``verify NAME``: check the dataset's files under the data folder against the registry's sha256.
  ``verify all`` prints one line per dataset and returns 1 when any is missing or altered.
- ``fetch NAME``: download, check and extract the published archive (:func:`mmrs.data.fetch.
  fetch`); ``fetch all`` fetches every redistributable dataset and says where to get the others.
- ``pack NAME``: write ``NAME.tar.gz`` from the verified local copy into ``--out-dir`` (default:
  the per-user cache's ``packed`` folder, never the repository), print its sha256 and size, and
  with ``--update-registry`` record them in ``archives.json``. ``pack all`` packs every dataset
  present locally.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import fetch as fetching
from .registry import REGISTRY, DatasetError, data_root, get_spec, how_to_get

EXIT_USAGE = 2


def _error(message: str) -> int:
    text = " ".join(str(message).split())
    print(f"mmrs: error: {text}", file=sys.stderr)
    return EXIT_USAGE


def _names(name: str) -> list[str]:
    if name == fetching.ALL:
        return sorted(REGISTRY)
    get_spec(name)  # unknown names: one line with a guess
    return [name]


def _verify(name: str) -> int:
    if name != fetching.ALL:
        folder = fetching.verify(name)
        print(f"{name}: ok, {len(get_spec(name).files)} files verified in {folder}")
        return 0
    failed = 0
    for each in _names(name):
        try:
            folder = fetching.verify(each)
        except DatasetError as err:
            failed += 1
            print(f"{each}: FAILED: {' '.join(str(err).split())}")
        else:
            print(f"{each}: ok, {len(get_spec(each).files)} files verified in {folder}")
    return 1 if failed else 0


def _fetch(name: str, base_url: str | None, progress: bool) -> int:
    if name != fetching.ALL:
        folder = fetching.fetch(name, base_url=base_url, progress=progress)
        print(f"{name}: ok, in {folder}")
        return 0
    dest = fetching.default_dest()
    for each in _names(name):
        spec = get_spec(each)
        if spec.redistribute:
            folder = fetching.fetch(each, base_url=base_url, dest=dest, progress=progress)
            print(f"{each}: ok, in {folder}")
        elif fetching.is_present(spec, dest):
            print(f"{each}: ok, in {dest / spec.folder}")
        else:
            print(f"{each}: not fetched. {how_to_get(spec, dest / spec.folder)}")
    return 0


def _pack(name: str, out_dir: str | None, update_registry: bool) -> int:
    out = Path(out_dir).expanduser() if out_dir else fetching.cache_folder().parent / "packed"
    names = _names(name)
    if name == fetching.ALL:
        names = [n for n in names if fetching.is_present(get_spec(n), data_root())]
        if not names:
            raise DatasetError(f"no dataset is present under {data_root()}: nothing to pack")
    for each in names:
        path = fetching.pack(each, out, update_registry=update_registry)
        record = fetching.archive_record(path)
        note = f" (recorded in {fetching.ARCHIVES_FILE.name})" if update_registry else ""
        print(f"{record['sha256']}  {record['bytes']}  {path}{note}")
    return 0


def main(args: argparse.Namespace) -> int:
    """Run ``mmrs data <action> <name>``; returns the exit status."""
    action = args.action
    name = getattr(args, "name", None)
    try:
        if not name:
            return _error(f"`mmrs data {action}` needs a dataset name or 'all'")
        if action == "verify":
            return _verify(name)
        if action == "fetch":
            return _fetch(name, getattr(args, "base_url", None),
                          progress=sys.stderr.isatty() and not getattr(args, "no_progress", False))
        if action == "pack":
            return _pack(name, getattr(args, "out_dir", None),
                         bool(getattr(args, "update_registry", False)))
    except DatasetError as err:
        return _error(str(err))
    return _error(f"unknown data action {action!r} (expected verify, fetch or pack)")
