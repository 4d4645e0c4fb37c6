"""MMRec .inter loader: every bad-input case gives a clear error; the split rule's exact counts."""

from __future__ import annotations

import numpy as np
import pytest

from mmrs.data import (
    DatasetError,
    load_interactions,
    mmrec_split_labels,
    read_inter,
    synthetic_interactions,
)


def write(tmp_path, text: str, name: str = "toy.inter"):
    folder = tmp_path / "toy"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


GOOD = "userID\titemID\tx_label\n" + "".join(
    f"{u}\t{i}\t{lab}\n" for u in range(2) for i, lab in zip(range(4), (0, 0, 1, 2), strict=True)
)


def test_good_file_round_trip(tmp_path):
    path = write(tmp_path, GOOD)
    data = load_interactions(path.parent)
    assert (data.n_users, data.n_items) == (2, 4)
    assert data.split_counts() == {"train": 4, "valid": 2, "test": 2}
    assert data.split_source == "x_label column"
    assert data.sparsity == 0.0
    users, items = data.pairs("valid")
    assert users.tolist() == [0, 1] and items.tolist() == [2, 2]


def test_folder_keeps_its_path_as_name_and_its_hash(tmp_path):
    from mmrs.data.registry import sha256sum

    path = write(tmp_path, GOOD, "baby.inter")
    folder = path.parent.rename(tmp_path / "amazon-baby")  # named like the registry dataset
    data = load_interactions(folder)
    assert data.name == str(folder)
    assert data.identity == {
        "name": str(folder),
        "source": str(folder.resolve()),
        "sha256": {"baby.inter": sha256sum(folder / "baby.inter")},
        "registry": False,
    }
    assert synthetic_interactions(n_users=5).identity is None


def test_unknown_dataset_lists_registry_names():
    with pytest.raises(DatasetError, match=r"did you mean 'amazon-baby'\?.*amazon-clothing"):
        load_interactions("amazon-babi")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("user\titemID\n0\t1\n", r"missing column\(s\) \['userID'\]"),
        ("userID\titem\n0\t1\n", r"missing column\(s\) \['itemID'\]"),
        ("userID\titemID\n0\t1\n1\tx\n", r"non-integer value 'x' on line 3"),
        ("userID\titemID\n0\t1.5\n", r"non-integer value '1.5' on line 2"),
        ("userID\titemID\n0\t1\n-1\t2\n", r"negative value -1 on line 3"),
        ("userID\titemID\n0\t1\n0\t1\n", r"1 duplicate \(userID, itemID\) pair\(s\), first on line 3"),
        ("userID\titemID\tx_label\n0\t1\t3\n", r"x_label 3 on line 2 is not 0, 1 or 2"),
        ("userID\titemID\n0\t1\n1\t2", r"no newline.*truncated"),
        ("userID\titemID\n0\t1\n1\n", r"line 3 has an empty field"),
        ("", r"empty"),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(DatasetError, match=message) as info:
        read_inter(path)
    assert str(path) in str(info.value)  # the message names the file


def test_ids_out_of_range(tmp_path):
    path = write(tmp_path, "userID\titemID\n0\t1\n2\t5\n")
    with pytest.raises(DatasetError, match=r"itemID 5 on line 3 is out of range \(expected 0..4\)"):
        read_inter(path, n_items=5)
    with pytest.raises(DatasetError, match=r"userID 2 on line 3 is out of range"):
        read_inter(path, n_users=2)


def test_features_loaded_and_validated(tmp_path):
    path = write(tmp_path, GOOD)
    np.save(path.parent / "text_feat.npy", np.arange(12, dtype=np.float32).reshape(4, 3))
    data = load_interactions(path.parent)
    assert data.features["text"].shape == (4, 3)
    assert "image" not in data.features

    np.save(path.parent / "image_feat.npy", np.ones((3, 2), dtype=np.float32))
    with pytest.raises(DatasetError, match=r"image_feat\.npy: has 3 rows but the interactions have 4 items"):
        load_interactions(path.parent)

    bad = np.ones((4, 2), dtype=np.float32)
    bad[2, 1] = np.nan
    np.save(path.parent / "image_feat.npy", bad)
    with pytest.raises(DatasetError, match=r"NaN or infinite values \(first in row 2\)"):
        load_interactions(path.parent)

    (path.parent / "image_feat.npy").write_bytes(b"not a numpy file")
    with pytest.raises(DatasetError, match=r"cannot be read as a \.npy array"):
        load_interactions(path.parent)


def test_folder_needs_exactly_one_inter_file(tmp_path):
    write(tmp_path, GOOD, "a.inter")
    write(tmp_path, GOOD, "b.inter")
    with pytest.raises(DatasetError, match=r"expected exactly one \*\.inter file"):
        load_interactions(tmp_path / "toy")


def test_split_rule_counts_by_hand():
    # user 0: n=5  -> 3/1/1;  user 1: n=10 -> vt=2: 8/1/1;  user 2: n=15 -> vt=3: 12/1/2
    users = np.repeat([0, 1, 2], [5, 10, 15])
    labels = mmrec_split_labels(users, seed=7)
    for u, expected in zip((0, 1, 2), ((3, 1, 1), (8, 1, 1), (12, 1, 2)), strict=True):
        counts = np.bincount(labels[users == u], minlength=3)
        assert tuple(counts) == expected


def test_split_rule_seeded_and_seed_dependent():
    users = np.repeat(np.arange(50), 12)
    a = mmrec_split_labels(users, seed=1)
    assert np.array_equal(a, mmrec_split_labels(users, seed=1))
    b = mmrec_split_labels(users, seed=2)
    assert not np.array_equal(a, b)
    assert np.array_equal(np.bincount(a), np.bincount(b))  # counts do not depend on the seed


def test_split_rule_rejects_tiny_users():
    with pytest.raises(ValueError, match="fewer than 3 interactions"):
        mmrec_split_labels(np.array([0, 0, 1, 1, 1]))


def test_synthetic_is_deterministic_and_five_core():
    a, b = synthetic_interactions(seed=3), synthetic_interactions(seed=3)
    assert (a.train != b.train).nnz == 0 and (a.test != b.test).nnz == 0
    full = a.train + a.valid + a.test
    assert np.asarray(full.getnnz(axis=1)).min() >= 5
    assert full.max() == 1  # no duplicate pairs


@pytest.mark.realdata
def test_baby_split_counts_exact(baby):
    assert (baby.n_users, baby.n_items, baby.n_interactions) == (19_445, 7_050, 160_792)
    assert baby.split_counts() == {"train": 118_551, "valid": 20_559, "test": 21_682}
    assert baby.sparsity == pytest.approx(1 - 160_792 / (19_445 * 7_050))
    # no interaction appears in two splits
    assert (baby.train.multiply(baby.valid)).nnz == 0 and (baby.train.multiply(baby.test)).nnz == 0


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "counts"),
    [
        ("amazon-sports", (35_598, 18_357, 218_409, 40_029, 37_899)),
        ("amazon-clothing", (39_387, 23_033, 197_338, 41_189, 40_150)),
    ],
)
def test_x_label_datasets(name, counts):
    from conftest import require

    require(name)
    data = load_interactions(name)
    assert (data.n_users, data.n_items, *data.split_counts().values()) == counts
    assert data.split_source == "x_label column"
