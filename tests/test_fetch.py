"""Fetching and packing datasets, offline: a local HTTP server on 127.0.0.1 serves packed archives.

Covers: fetch then load; a checksum mismatch (nothing left behind); an interrupted download (a
clean retry); archives with ``../``, absolute, link or device members (refused, nothing
extracted); deterministic packing; the missing-dataset messages and the ``data`` commands.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import importlib
import io
import json
import os
import re
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mmrs import cli
from mmrs.data import registry
from mmrs.data.commands import main as data_main
from mmrs.data.registry import DatasetError, DatasetSpec

fetching = importlib.import_module("mmrs.data.fetch")  # the module, whatever mmrs.data exports

NAME = "tiny-mm"
FOLDER = "nested/tiny-mm"


def _inter_text() -> str:
    """5 users x 4 items each, x_label 0,0,1,2 per user: a valid MMRec-format file."""
    rows = ["userID\titemID\tx_label"]
    for user in range(5):
        for k, label in enumerate((0, 0, 1, 2)):
            rows.append(f"{user}\t{(user + k) % 6}\t{label}")
    return "\n".join(rows) + "\n"


FILES = {
    "tiny.inter": _inter_text().encode(),
    "notes.csv": b"a,b\n1,2\n",
}


def _spec(redistribute: bool = True, files: dict[str, bytes] | None = None) -> DatasetSpec:
    files = FILES if files is None else files
    return DatasetSpec(
        name=NAME,
        folder=FOLDER,
        files={rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()},
        source="made by the test",
        licence="test licence",
        description="tiny",
        counts={"users": 5, "items": 6, "interactions": 20},
        redistribute=redistribute,
        original="https://example.org/tiny (the test's original source)",
    )


@pytest.fixture()
def env(tmp_path, monkeypatch):
    """A fake dataset under tmp/src, an empty destination and cache, a private archives.json."""
    src = tmp_path / "src"
    for rel, data in FILES.items():
        path = src / FOLDER / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    monkeypatch.setitem(registry.REGISTRY, NAME, _spec())
    monkeypatch.setattr(fetching, "ARCHIVES_FILE", tmp_path / "archives.json")
    monkeypatch.setenv("MMRS_DATA", str(src))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(fetching.URL_ENV, raising=False)
    served = tmp_path / "served"
    served.mkdir()
    return argparse.Namespace(
        root=tmp_path, src=src, served=served, dest=tmp_path / "dest", cache=tmp_path / "cache"
    )


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture()
def serve():
    """Start a ThreadingHTTPServer on 127.0.0.1 (port 0) in a thread; stopped at teardown."""
    servers = []

    def start(handler) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if not p.is_dir()) if folder.exists() else []


def _serve_folder(serve, folder: Path, counter: list[str] | None = None) -> str:
    class Handler(_Quiet):
        def do_GET(self):
            if counter is not None:
                counter.append(self.path)
            super().do_GET()

    return serve(functools.partial(Handler, directory=str(folder)))


def _pack(env) -> Path:
    return fetching.pack(NAME, env.served, update_registry=True)


# --- fetch and load -----------------------------------------------------------------------------


def test_fetch_then_load(env, serve, monkeypatch):
    archive = _pack(env)
    record = json.loads(fetching.ARCHIVES_FILE.read_text())[NAME]
    assert record == {
        "file": f"{NAME}.tar.gz",
        "sha256": registry.sha256sum(archive),
        "bytes": archive.stat().st_size,
    }
    requests_seen: list[str] = []
    url = _serve_folder(serve, env.served, requests_seen)

    folder = fetching.fetch(NAME, base_url=url, dest=env.dest, cache_dir=env.cache)

    assert folder == env.dest / FOLDER
    for rel, data in FILES.items():
        assert (folder / rel).read_bytes() == data
    assert _files_under(env.dest) == sorted(folder / rel for rel in FILES)  # no temp left
    assert _files_under(env.cache) == [env.cache / f"{NAME}.tar.gz"]
    assert requests_seen == [f"/{NAME}.tar.gz"]

    from mmrs.data import load_interactions

    monkeypatch.setenv("MMRS_DATA", str(env.dest))
    data = load_interactions(NAME)
    assert (data.n_users, data.n_items, data.n_interactions) == (5, 6, 20)
    assert data.identity["registry"] and data.identity["source"] == str(folder.resolve())

    # present and verified: nothing is downloaded again
    assert fetching.fetch(NAME, base_url=url, dest=env.dest, cache_dir=env.cache) == folder
    assert requests_seen == [f"/{NAME}.tar.gz"]


def test_fetch_replaces_an_altered_file_and_keeps_other_files(env, serve):
    _pack(env)
    url = _serve_folder(serve, env.served)
    folder = env.dest / FOLDER
    folder.mkdir(parents=True)
    (folder / "tiny.inter").write_bytes(b"truncated")
    (folder / "image_feat.npy").write_bytes(b"the user's own feature file")
    fetching.fetch(NAME, base_url=url, dest=env.dest, cache_dir=env.cache)
    assert (folder / "tiny.inter").read_bytes() == FILES["tiny.inter"]
    assert (folder / "image_feat.npy").read_bytes() == b"the user's own feature file"


def test_fetch_defaults_to_mmrs_data_and_env_url(env, serve, monkeypatch):
    _pack(env)
    monkeypatch.setenv("MMRS_DATA", str(env.dest))
    monkeypatch.setenv(fetching.URL_ENV, _serve_folder(serve, env.served).rstrip("/"))
    assert fetching.fetch(NAME) == env.dest / FOLDER
    assert registry.dataset_path(NAME) == env.dest / FOLDER
    assert (env.root / "xdg" / "mmrs" / "archives" / f"{NAME}.tar.gz").is_file()


def test_fetch_all_fetches_every_redistributable_dataset(env, serve, monkeypatch):
    _pack(env)
    url = _serve_folder(serve, env.served)
    others = {n: s for n, s in registry.REGISTRY.items() if n != NAME}
    assert any(not s.redistribute for s in others.values())
    for name, spec in others.items():  # leave only the fake one redistributable
        if spec.redistribute:
            monkeypatch.setitem(registry.REGISTRY, name, _replace(spec, redistribute=False))
    assert fetching.fetch("all", base_url=url, dest=env.dest, cache_dir=env.cache) == env.dest
    assert _files_under(env.dest) == sorted(env.dest / FOLDER / rel for rel in FILES)


def _replace(spec: DatasetSpec, **changes) -> DatasetSpec:
    import dataclasses

    return dataclasses.replace(spec, **changes)


# --- failures leave nothing behind --------------------------------------------------------------


def test_checksum_mismatch_is_one_clear_line_and_leaves_nothing(env, serve):
    archive = _pack(env)
    data = bytearray(archive.read_bytes())
    data[-20] ^= 0xFF  # the published archive altered on the server
    archive.write_bytes(bytes(data))
    url = _serve_folder(serve, env.served)
    with pytest.raises(DatasetError) as caught:
        fetching.fetch(NAME, base_url=url, dest=env.dest, cache_dir=env.cache)
    message = str(caught.value)
    assert "\n" not in message
    assert re.search(r"does not match the registry's sha256 [0-9a-f]{64}", message)
    assert "nothing was extracted" in message and NAME in message
    assert _files_under(env.dest) == [] and _files_under(env.cache) == []


def test_extracted_file_not_matching_registry_leaves_nothing(env, serve, monkeypatch):
    _pack(env)  # archive fine, but the registry expects other content for one file
    other = dict(FILES, **{"notes.csv": b"a,b\n1,3\n"})
    monkeypatch.setitem(registry.REGISTRY, NAME, _spec(files=other))
    url = _serve_folder(serve, env.served)
    match = r"file 'notes\.csv' in archive .* has sha256 .*expected"
    with pytest.raises(DatasetError, match=match):
        fetching.fetch(NAME, base_url=url, dest=env.dest, cache_dir=env.cache)
    assert _files_under(env.dest) == []
    assert [p.name for p in env.dest.iterdir()] == []  # no temporary folder either


def test_interrupted_download_then_clean_retry(env, serve):
    archive = _pack(env)
    payload = archive.read_bytes()
    calls: list[int] = []

    class Flaky(_Quiet):
        def do_GET(self):
            calls.append(1)
            self.send_response(200)
            self.send_header("Content-Type", "application/gzip")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if len(calls) == 1:  # first request: half the bytes, then the connection drops
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(payload)

    url = serve(Flaky)
    match = r"downloading .* failed .*run the command again"
    with pytest.raises(DatasetError, match=match) as caught:
        fetching.fetch(NAME, base_url=url, dest=env.dest, cache_dir=env.cache)
    assert "\n" not in str(caught.value)
    assert _files_under(env.dest) == [] and _files_under(env.cache) == []

    folder = fetching.fetch(NAME, base_url=url, dest=env.dest, cache_dir=env.cache)
    assert len(calls) == 2
    assert {p.name: p.read_bytes() for p in _files_under(folder)} == FILES
    assert _files_under(env.dest) == sorted(folder / rel for rel in FILES)
    assert _files_under(env.cache) == [env.cache / f"{NAME}.tar.gz"]


# --- unsafe archives are refused ----------------------------------------------------------------


def _evil_archive(path: Path, evil: tarfile.TarInfo, evil_data: bytes = b"") -> Path:
    """A .tar.gz with the dataset's real members plus one ``evil`` member (first)."""
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(evil, io.BytesIO(evil_data) if evil.isfile() else None)
        for rel, data in FILES.items():
            info = tarfile.TarInfo(f"{FOLDER}/{rel}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "", size: int = 0):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = size
    return info


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (_member("../escaped.txt", size=4), "contains '..'"),
        (_member(f"{FOLDER}/../../../escaped.txt", size=4), "contains '..'"),
        (_member("/tmp/mmrs-test-absolute.txt", size=4), "is an absolute path"),
        (_member(f"{FOLDER}/link", tarfile.SYMTYPE, linkname="/etc/passwd"), "is a link"),
        (_member(f"{FOLDER}/hard", tarfile.LNKTYPE, linkname=f"{FOLDER}/tiny.inter"), "is a link"),
        (_member(f"{FOLDER}/dev", tarfile.CHRTYPE), "is a device"),
        (_member(f"{FOLDER}/extra.txt", size=4), "unexpected members"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink", "device", "unexpected"],
)
def test_unsafe_archive_is_refused(env, serve, member, reason):
    data = b"evil" if member.isfile() else b""
    archive = _evil_archive(env.served / f"{NAME}.tar.gz", member, data)
    fetching.update_archives(NAME, fetching.archive_record(archive))
    url = _serve_folder(serve, env.served)
    with pytest.raises(DatasetError, match="refused") as caught:
        fetching.fetch(NAME, base_url=url, dest=env.dest, cache_dir=env.cache)
    message = str(caught.value)
    assert reason in message and "nothing was extracted" in message and "\n" not in message
    assert _files_under(env.dest) == []
    assert not (env.root / "escaped.txt").exists()
    assert not Path("/tmp/mmrs-test-absolute.txt").exists()


def test_not_a_tar_archive_is_refused(env, serve):
    (env.served / f"{NAME}.tar.gz").write_bytes(b"this is not a gzip file")
    fetching.update_archives(NAME, fetching.archive_record(env.served / f"{NAME}.tar.gz"))
    url = _serve_folder(serve, env.served)
    with pytest.raises(DatasetError, match="could not be extracted"):
        fetching.fetch(NAME, base_url=url, dest=env.dest, cache_dir=env.cache)
    assert _files_under(env.dest) == []


# --- pack ---------------------------------------------------------------------------------------


def test_pack_is_deterministic(env, tmp_path):
    first = fetching.pack(NAME, tmp_path / "one")
    for rel in FILES:  # same content, other timestamps
        os.utime(env.src / FOLDER / rel, (1_000_000_000, 1_000_000_000))
    second = fetching.pack(NAME, tmp_path / "two")
    assert first.read_bytes() == second.read_bytes()
    assert registry.sha256sum(first) == registry.sha256sum(second)
    raw = first.read_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # gzip header mtime 0
    with tarfile.open(first) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(f"{FOLDER}/{rel}" for rel in FILES)
    for m in members:
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) == (0, 0, 0, "", "", 0o644)
        assert m.isfile()
    assert not fetching.ARCHIVES_FILE.exists()  # only written when asked
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == [f"{NAME}.tar.gz"]


def test_pack_refuses_an_altered_copy(env, tmp_path):
    (env.src / FOLDER / "notes.csv").write_bytes(b"altered")
    with pytest.raises(DatasetError, match="has sha256"):
        fetching.pack(NAME, tmp_path / "out", update_registry=True)
    assert not (tmp_path / "out" / f"{NAME}.tar.gz").exists()
    assert not fetching.ARCHIVES_FILE.exists()


def test_gzip_member_name_is_empty(env, tmp_path):
    archive = fetching.pack(NAME, tmp_path / "out")
    with gzip.open(archive) as handle:
        handle.read(1)
    assert archive.read_bytes()[3] & 0x08 == 0  # FNAME flag unset: no file name in the header


# --- messages and the data folder --------------------------------------------------------------


def test_missing_redistributable_dataset_names_the_fetch_command(env, monkeypatch):
    monkeypatch.setenv("MMRS_DATA", str(env.root / "empty"))
    (env.root / "empty").mkdir()
    with pytest.raises(DatasetError, match=rf"`python -m mmrs data fetch {NAME}`"):
        registry.dataset_path(NAME)


def test_missing_restricted_dataset_says_where_and_verify(env, serve, monkeypatch):
    monkeypatch.setitem(registry.REGISTRY, NAME, _spec(redistribute=False))
    monkeypatch.setenv("MMRS_DATA", str(env.root / "empty"))
    (env.root / "empty").mkdir()
    for call in (lambda: registry.dataset_path(NAME), lambda: fetching.fetch(NAME, dest=env.dest)):
        with pytest.raises(DatasetError) as caught:
            call()
        message = str(caught.value)
        assert "does not redistribute" in message and "https://example.org/tiny" in message
        assert f"`python -m mmrs data verify {NAME}`" in message
        assert "data fetch" not in message
    assert _files_under(env.dest) == []
    # a mirror named explicitly (e.g. a course server) is used
    monkeypatch.setitem(registry.REGISTRY, NAME, _spec(redistribute=True))
    monkeypatch.setenv("MMRS_DATA", str(env.src))
    _pack(env)
    monkeypatch.setitem(registry.REGISTRY, NAME, _spec(redistribute=False))
    url = _serve_folder(serve, env.served)
    assert fetching.fetch(NAME, base_url=url, dest=env.dest, cache_dir=env.cache).is_dir()


def test_no_archive_record_is_a_clear_error(env):
    with pytest.raises(DatasetError, match=rf"no archive record .*data pack {NAME}"):
        fetching.fetch(NAME, base_url="http://127.0.0.1:9/", dest=env.dest, cache_dir=env.cache)


def test_data_root_defaults_to_the_per_user_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("MMRS_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    root = registry.data_root()
    assert root == tmp_path / "xdg" / "mmrs" / "datasets" and root.is_dir()
    assert fetching.default_dest() == root


def test_base_url_setting(monkeypatch):
    monkeypatch.delenv(fetching.URL_ENV, raising=False)
    assert fetching.resolve_base_url() == fetching.DEFAULT_BASE_URL
    monkeypatch.setenv(fetching.URL_ENV, "https://mirror.example/data")
    assert fetching.resolve_base_url() == "https://mirror.example/data/"
    assert fetching.resolve_base_url("http://127.0.0.1:1/x/") == "http://127.0.0.1:1/x/"


# --- the data commands --------------------------------------------------------------------------


def _run(capsys, **kwargs):
    code = data_main(argparse.Namespace(**kwargs))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_commands_pack_fetch_verify(env, serve, capsys, monkeypatch):
    code, out, _ = _run(capsys, action="pack", name=NAME, out_dir=str(env.served),
                        update_registry=True)
    archive = env.served / f"{NAME}.tar.gz"
    assert code == 0 and registry.sha256sum(archive) in out and str(archive.stat().st_size) in out
    assert NAME in json.loads(fetching.ARCHIVES_FILE.read_text())

    env.dest.mkdir()
    monkeypatch.setenv("MMRS_DATA", str(env.dest))
    monkeypatch.setenv("XDG_CACHE_HOME", str(env.cache))
    code, _, err = _run(capsys, action="verify", name=NAME)
    assert code == 2 and err.startswith("mmrs: error: ") and len(err.strip().splitlines()) == 1
    assert f"python -m mmrs data fetch {NAME}" in err

    url = _serve_folder(serve, env.served)
    code, out, _ = _run(capsys, action="fetch", name=NAME, base_url=url)
    assert code == 0 and str(env.dest / FOLDER) in out
    code, out, _ = _run(capsys, action="verify", name=NAME)
    assert code == 0 and "ok" in out


def test_cli_fetch_uses_the_url_setting(env, serve, capsys, monkeypatch):
    _pack(env)
    monkeypatch.setenv("MMRS_DATA", str(env.dest))
    monkeypatch.setenv(fetching.URL_ENV, _serve_folder(serve, env.served))
    assert cli.main(["data", "fetch", NAME]) == 0
    assert registry.dataset_path(NAME) == env.dest / FOLDER
    capsys.readouterr()


def test_command_download_failure_is_one_line(env, capsys, monkeypatch):
    _pack(env)
    monkeypatch.setenv("MMRS_DATA", str(env.dest))
    monkeypatch.setenv("XDG_CACHE_HOME", str(env.cache))
    # port 9 (discard) on 127.0.0.1: nothing listens, the connection is refused at once
    code, _, err = _run(capsys, action="fetch", name=NAME, base_url="http://127.0.0.1:9/")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "run the command again" in err
    assert _files_under(env.dest) == []


# --- the published archive records --------------------------------------------------------------


def test_archives_json_lists_every_registry_dataset():
    records = json.loads(fetching.ARCHIVES_FILE.read_text())
    assert set(records) == set(registry.REGISTRY)
    for name, record in records.items():
        assert record["file"] == f"{name}.tar.gz"
        assert re.fullmatch(r"[0-9a-f]{64}", record["sha256"])
        assert record["bytes"] > 0


def test_registry_licences_are_conservative():
    for spec in registry.REGISTRY.values():
        assert spec.original
        if spec.redistribute:
            assert "Apache-2.0" in spec.licence
    shared = {n for n, s in registry.REGISTRY.items() if s.redistribute}
    assert shared == {"abt-buy", "amazon-google"}


@pytest.mark.realdata
@pytest.mark.parametrize(
    "name", ["abt-buy", "amazon-google", "amazon-baby", "amazon-sports", "amazon-clothing"]
)
def test_packing_the_real_data_gives_the_recorded_archive(name, tmp_path):
    """archives.json is up to date: packing the verified local copy reproduces its sha256."""
    if not registry.available(name):
        pytest.skip(f"dataset {name!r} not available under MMRS_DATA")
    record = fetching.archive_record(fetching.pack(name, tmp_path))
    assert record == json.loads(fetching.ARCHIVES_FILE.read_text())[name]
