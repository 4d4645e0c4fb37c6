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


def test_unset_env_names_the_variable(monkeypatch, tmp_path):
    """Unset MMRS_DATA: the per-user data folder is used, and a missing dataset's error says
    that MMRS_DATA is not set and gives the command that gets the data."""
    monkeypatch.delenv("MMRS_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert registry.data_root() == tmp_path / "xdg" / "mmrs" / "datasets"
    with pytest.raises(DatasetError, match=r"MMRS_DATA is not set.*python -m mmrs data verify"):
        registry.dataset_path("amazon-baby")
    with pytest.raises(DatasetError, match=r"MMRS_DATA is not set.*`python -m mmrs data fetch abt-buy`"):
        registry.dataset_path("abt-buy")


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


def test_misspelt_name_gets_a_guess():
    with pytest.raises(DatasetError, match=r"did you mean 'amazon-sports'\?.*abt-buy"):
        registry.get_spec("amazon-sprots")


def test_identity_of_registry_name(fake_registry):
    identity = registry.dataset_identity("tiny")
    assert identity == {
        "name": "tiny",
        "source": str(fake_registry.resolve()),
        "sha256": registry.REGISTRY["tiny"].files,
        "registry": True,
    }


def test_identity_of_registry_name_is_verified(fake_registry):
    (fake_registry / "tiny.inter").write_bytes(b"userID\titemID\n0\t1\n")
    with pytest.raises(DatasetError, match="has sha256"):
        registry.dataset_identity("tiny")


def test_identity_of_folder_named_like_registry(fake_registry, tmp_path):
    """A folder called like a registry dataset, altered: recorded as its path, with its hashes."""
    folder = tmp_path / "elsewhere" / "tiny"
    folder.mkdir(parents=True)
    (folder / "tiny.inter").write_bytes(b"userID\titemID\n0\t1\n")
    (folder / "image_feat.npy").write_bytes(b"not really")
    (folder / "notes.txt").write_text("ignored")
    for spec in (folder, str(folder)):
        identity = registry.dataset_identity(spec)
        assert identity["name"] == str(folder) and identity["registry"] is False
        assert identity["source"] == str(folder.resolve())
        assert identity["sha256"] == {
            "image_feat.npy": registry.sha256sum(folder / "image_feat.npy"),
            "tiny.inter": registry.sha256sum(folder / "tiny.inter"),
        }
        assert identity["sha256"]["tiny.inter"] != registry.REGISTRY["tiny"].files["tiny.inter"]


def test_identity_of_nothing_lists_names(tmp_path):
    with pytest.raises(DatasetError, match=r"Unknown dataset .*amazon-baby"):
        registry.dataset_identity(str(tmp_path / "nope"))
    (tmp_path / "file.inter").write_text("x")
    with pytest.raises(DatasetError, match="is a file"):
        registry.dataset_identity(tmp_path / "file.inter")
