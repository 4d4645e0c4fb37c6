"""Registry: missing folder, missing file and checksum mismatch give actionable errors."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from mmrs.data import registry
from mmrs.data.registry import DatasetError, DatasetSpec


@pytest.fixture()
def fake_registry(tmp_path, monkeypatch):
    """A registry with one tiny dataset whose checksum is known, under a temporary MMRS_DATA."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    content = b"userID\titemID\n0\t0\n"
    (folder / "tiny.inter").write_bytes(content)
    spec = DatasetSpec(
        name="tiny",
        folder="tiny",
        files={"tiny.inter": hashlib.sha256(content).hexdigest()},
        source="made by the test",
        licence="none",
        description="test",
    )
    monkeypatch.setitem(registry.REGISTRY, "tiny", spec)
    monkeypatch.setenv("MMRS_DATA", str(tmp_path))
    return folder


def test_verified_dataset_path(fake_registry):
    assert registry.dataset_path("tiny") == fake_registry
    assert registry.available("tiny")


def test_unset_env_names_the_variable(monkeypatch):
    monkeypatch.delenv("MMRS_DATA", raising=False)
    with pytest.raises(DatasetError, match="MMRS_DATA is not set"):
        registry.data_root()


def test_env_pointing_nowhere(monkeypatch, tmp_path):
    monkeypatch.setenv("MMRS_DATA", str(tmp_path / "nope"))
    with pytest.raises(DatasetError, match="is not a folder"):
        registry.data_root()


def test_missing_folder_names_dataset_and_files(fake_registry):
    shutil.rmtree(fake_registry)
    with pytest.raises(DatasetError, match=r"Dataset 'tiny': folder .* does not exist.*tiny\.inter"):
        registry.dataset_path("tiny")
    assert not registry.available("tiny")


def test_missing_file(fake_registry):
    (fake_registry / "tiny.inter").unlink()
    with pytest.raises(DatasetError, match=r"file 'tiny\.inter' is missing.*MMRS_DATA"):
        registry.dataset_path("tiny")


def test_checksum_mismatch(fake_registry):
    (fake_registry / "tiny.inter").write_bytes(b"userID\titemID\n0\t1\n")
    with pytest.raises(DatasetError, match=r"has sha256 [0-9a-f]{64}, expected"):
        registry.dataset_path("tiny")


def test_unknown_name_lists_known():
    with pytest.raises(DatasetError, match="amazon-baby"):
        registry.get_spec("no-such-data")


def test_sha256sum_known_value(tmp_path):
    path = tmp_path / "abc.txt"
    path.write_bytes(b"abc")
    assert registry.sha256sum(path) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_registry_lists_every_shared_dataset():
    assert set(registry.REGISTRY) == {
        "amazon-baby", "amazon-sports", "amazon-clothing", "fashion-small", "abt-buy", "amazon-google"
    }
    for spec in registry.REGISTRY.values():
        assert all(len(h) == 64 for h in spec.files.values())
        assert spec.source and spec.licence
