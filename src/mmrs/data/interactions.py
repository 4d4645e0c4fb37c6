"""MMRec-format interaction data: validated reading, the split rule, and a typed container.

File format (MMRec's ``<name>.inter``): tab-separated, a header with ``userID`` and ``itemID``
(0-based contiguous integer ids) and optionally ``x_label`` (0 train, 1 valid, 2 test). Optional
``image_feat.npy`` / ``text_feat.npy`` in the same folder hold one feature row per item id.

When ``x_label`` is absent, MMRec's split rule is applied with a fixed seed (:data:`SPLIT_SEED`):
shuffle all interactions, group them by user (keeping the shuffled order) and label each user's
list in order. With ``n`` interactions a user gets::

    n < 10 :  n - 2 train, 1 valid, 1 test
    n >= 10:  vt = floor(0.2 n);  valid = vt // 2;  test = vt - vt // 2;  train = n - vt

The counts per user do not depend on the seed; which interactions land where does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .registry import REGISTRY, DatasetError, dataset_identity

SPLIT_SEED = 2023
"""Seed of the shuffle in MMRec's split rule (MMRec's own shuffle was unseeded)."""

SPLITS = ("train", "valid", "test")
REQUIRED_COLUMNS = ("userID", "itemID")
FEATURE_FILES = {"image": "image_feat.npy", "text": "text_feat.npy"}


@dataclass
class InteractionData:
    """A user-item interaction dataset with its train/valid/test split.

    ``train``, ``valid`` and ``test`` are binary CSR matrices of shape ``(n_users, n_items)``;
    ``features`` maps a modality name (``"image"``, ``"text"``) to an ``(n_items, d)`` array.
    """

    name: str
    n_users: int
    n_items: int
    train: sp.csr_matrix
    valid: sp.csr_matrix
    test: sp.csr_matrix
    split_source: str
    features: dict[str, np.ndarray] = field(default_factory=dict)
    identity: dict | None = None
    """Which files these are (:func:`~mmrs.data.registry.dataset_identity`); ``None`` when the
    data were built in memory (synthetic, k-core, ...)."""

    @property
    def n_interactions(self) -> int:
        """Interactions over all three splits."""
        return int(self.train.nnz + self.valid.nnz + self.test.nnz)

    @property
    def sparsity(self) -> float:
        """``1 - |interactions| / (|users| |items|)``."""
        return 1.0 - self.n_interactions / (self.n_users * self.n_items)

    def split(self, name: str) -> sp.csr_matrix:
        """The CSR matrix of split ``name`` (``train``, ``valid`` or ``test``)."""
        if name not in SPLITS:
            raise ValueError(f"Unknown split {name!r}; choose one of {SPLITS}.")
        return getattr(self, name)

    def split_counts(self) -> dict[str, int]:
        """Number of interactions per split."""
        return {s: int(self.split(s).nnz) for s in SPLITS}

    def pairs(self, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """``(users, items)`` index arrays of one split, sorted by user then item."""
        coo = self.split(split).tocoo()
        return coo.row.astype(np.int64), coo.col.astype(np.int64)

    def all_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """``(users, items)`` over all splits."""
        coo = (self.train + self.valid + self.test).tocoo()
        return coo.row.astype(np.int64), coo.col.astype(np.int64)

    def __repr__(self) -> str:
        counts = self.split_counts()
        feats = ", ".join(f"{k}:{v.shape[1]}d" for k, v in self.features.items()) or "none"
        return (
            f"InteractionData({self.name!r}: {self.n_users:,} users, {self.n_items:,} items, "
            f"{self.n_interactions:,} interactions, sparsity {self.sparsity:.4%}, "
            f"split {counts['train']:,}/{counts['valid']:,}/{counts['test']:,} "
            f"[{self.split_source}], features: {feats})"
        )


def _fail(path: Path, problem: str, fix: str) -> DatasetError:
    return DatasetError(f"{path}: {problem}. {fix}")


def _integer_column(frame: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    """Parse a string column as non-negative integers; name the first bad line otherwise."""
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() | (values != np.floor(values))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise _fail(
            path,
            f"column {column!r} has a non-integer value {frame[column].iloc[row]!r} on line {row + 2}",
            "Ids and labels must be whole numbers; fix or regenerate the file.",
        )
    out = values.to_numpy(dtype=np.int64)
    if (out < 0).any():
        row = int(np.flatnonzero(out < 0)[0])
        raise _fail(
            path,
            f"column {column!r} has a negative value {out[row]} on line {row + 2}",
            "Ids must be 0-based non-negative integers (MMRec remaps raw ids to 0..n-1).",
        )
    return out


def read_inter(
    path: str | Path, n_users: int | None = None, n_items: int | None = None
) -> pd.DataFrame:
    """Read and validate an MMRec ``.inter`` file.

    Returns a frame with int64 columns ``userID``, ``itemID`` and, if present, ``x_label``.
    Raises :class:`DatasetError` (naming the file, the problem and the fix) for: a missing
    column, a truncated last line, empty fields, non-integer or negative ids, ids ``>= n_users``
    / ``>= n_items`` when those are given, ``x_label`` outside {0, 1, 2}, and duplicate
    (user, item) pairs. Extra columns (ratings, timestamps) are ignored.
    """
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "file not found", "Check the path or MMRS_DATA.")
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        if size == 0:
            raise _fail(path, "file is empty", "Copy the complete file again.")
        handle.seek(size - 1)
        if handle.read(1) != b"\n":
            raise _fail(
                path,
                "the last line has no newline, so the file is probably truncated",
                "Copy the complete file again (and compare its sha256 with data/README.md).",
            )
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise _fail(
            path,
            f"missing column(s) {missing}; found {list(frame.columns)}",
            "An MMRec .inter file is tab-separated with a header 'userID<TAB>itemID[<TAB>x_label]'.",
        )
    columns = [c for c in (*REQUIRED_COLUMNS, "x_label") if c in frame.columns]
    empty = (frame[columns] == "").any(axis=1).to_numpy()
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise _fail(
            path,
            f"line {row + 2} has an empty field (the file may be truncated or misaligned)",
            "Every line needs a value in each of " + ", ".join(columns) + ".",
        )
    out = pd.DataFrame({c: _integer_column(frame, c, path) for c in columns})
    for column, limit in (("userID", n_users), ("itemID", n_items)):
        if limit is not None and (out[column] >= limit).any():
            row = int(np.flatnonzero(out[column].to_numpy() >= limit)[0])
            raise _fail(
                path,
                f"{column} {out[column].iloc[row]} on line {row + 2} is out of range "
                f"(expected 0..{limit - 1})",
                "The ids must index the dataset's users/items; was the file re-mapped or mixed?",
            )
    if "x_label" in out and not out["x_label"].isin([0, 1, 2]).all():
        row = int(np.flatnonzero(~out["x_label"].isin([0, 1, 2]).to_numpy())[0])
        raise _fail(
            path,
            f"x_label {out['x_label'].iloc[row]} on line {row + 2} is not 0, 1 or 2",
            "x_label marks the split: 0 train, 1 valid, 2 test.",
        )
    dup = out.duplicated(subset=["userID", "itemID"]).to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        raise _fail(
            path,
            f"{int(dup.sum())} duplicate (userID, itemID) pair(s), first on line {row + 2} "
            f"({out['userID'].iloc[row]}, {out['itemID'].iloc[row]})",
            "Each interaction must appear once; deduplicate the file before loading.",
        )
    return out


def rule_counts(n: np.ndarray) -> np.ndarray:
    """MMRec's per-user (train, valid, test) counts for users with ``n`` interactions.

    Returns an int array of shape ``(len(n), 3)``; see the module docstring for the rule.
    """
    n = np.asarray(n, dtype=np.int64)
    vt = np.where(n < 10, 2, (0.2 * n).astype(np.int64))
    n_valid = np.where(n < 10, 1, vt // 2)
    return np.stack([n - vt, n_valid, vt - n_valid], axis=1)


def split_rule_deviations(data: InteractionData) -> pd.DataFrame:
    """Users whose (train, valid, test) counts differ from MMRec's rule, by kind of difference.

    Useful for datasets shipped with ``x_label``: it shows whether they follow the rule.
    Columns: ``users`` (how many) and ``share_%`` of all users; index: ``follows rule``,
    ``valid/test swapped``, ``other``.
    """
    observed = np.stack([np.asarray(data.split(s).getnnz(axis=1)) for s in SPLITS], axis=1)
    expected = rule_counts(observed.sum(axis=1))
    same = (observed == expected).all(axis=1)
    swapped = ~same & (observed[:, 0] == expected[:, 0]) & (observed[:, 1] == expected[:, 2]) & (
        observed[:, 2] == expected[:, 1]
    )
    counts = {
        "follows rule": int(same.sum()),
        "valid/test swapped": int(swapped.sum()),
        "other": int((~same & ~swapped).sum()),
    }
    frame = pd.DataFrame({"users": counts})
    frame["share_%"] = 100 * frame["users"] / data.n_users
    return frame


def mmrec_split_labels(users: np.ndarray, seed: int = SPLIT_SEED) -> np.ndarray:
    """Labels (0 train, 1 valid, 2 test) from MMRec's per-user split rule (module docstring).

    ``users`` holds the user id of each interaction; the result is aligned with it.
    Users with fewer than 3 interactions cannot be split and raise ``ValueError``.
    """
    users = np.asarray(users, dtype=np.int64)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(users))
    order = perm[np.argsort(users[perm], kind="stable")]  # grouped by user, shuffled within
    sorted_users = users[order]
    _, starts, counts = np.unique(sorted_users, return_index=True, return_counts=True)
    if (counts < 3).any():
        raise ValueError(
            f"{int((counts < 3).sum())} user(s) have fewer than 3 interactions; MMRec's rule "
            "needs at least one train, one valid and one test item. Apply k_core(..., k=5) first."
        )
    per_user = rule_counts(counts)
    n_train, n_valid = per_user[:, 0], per_user[:, 1]
    position = np.arange(len(users)) - np.repeat(starts, counts)
    n_train_r = np.repeat(n_train, counts)
    n_valid_r = np.repeat(n_valid, counts)
    sorted_labels = np.where(position < n_train_r, 0, np.where(position < n_train_r + n_valid_r, 1, 2))
    labels = np.empty(len(users), dtype=np.int64)
    labels[order] = sorted_labels
    return labels


def from_labelled_pairs(
    users: np.ndarray,
    items: np.ndarray,
    labels: np.ndarray,
    n_users: int,
    n_items: int,
    name: str,
    split_source: str,
    features: dict[str, np.ndarray] | None = None,
) -> InteractionData:
    """Build :class:`InteractionData` from aligned (user, item, label) arrays."""

    def matrix(mask: np.ndarray) -> sp.csr_matrix:
        ones = np.ones(int(mask.sum()), dtype=np.float32)
        return sp.csr_matrix((ones, (users[mask], items[mask])), shape=(n_users, n_items))

    return InteractionData(
        name=name,
        n_users=n_users,
        n_items=n_items,
        train=matrix(labels == 0),
        valid=matrix(labels == 1),
        test=matrix(labels == 2),
        split_source=split_source,
        features=dict(features or {}),
    )


def load_features(folder: Path, n_items: int) -> dict[str, np.ndarray]:
    """Load MMRec feature files present in ``folder`` (rows = item ids), validating each."""
    features: dict[str, np.ndarray] = {}
    for modality, filename in FEATURE_FILES.items():
        path = folder / filename
        if not path.exists():
            continue
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise _fail(path, f"cannot be read as a .npy array ({err})", "Re-create or copy it again.") from err
        if array.ndim != 2:
            raise _fail(path, f"has shape {array.shape}, expected (n_items, dim)", "Save a 2-D array.")
        if array.shape[0] != n_items:
            raise _fail(
                path,
                f"has {array.shape[0]} rows but the interactions have {n_items} items",
                "Feature rows must be in item-id order, one per item.",
            )
        if not np.isfinite(array).all():
            bad = int(np.flatnonzero(~np.isfinite(array).all(axis=1))[0])
            raise _fail(path, f"has NaN or infinite values (first in row {bad})", "Re-extract the features.")
        features[modality] = array.astype(np.float32, copy=False)
    return features


def _find_inter(folder: Path) -> Path:
    files = sorted(folder.glob("*.inter"))
    if len(files) != 1:
        raise DatasetError(
            f"{folder}: expected exactly one *.inter file, found {[f.name for f in files]}. "
            "Pass the file's folder of an MMRec-format dataset."
        )
    return files[0]


def load_interactions(
    dataset: str | Path, seed: int = SPLIT_SEED, n_users: int | None = None, n_items: int | None = None
) -> InteractionData:
    """Load an MMRec-format dataset by registry name (``"amazon-baby"``) or folder path.

    Registry datasets are checksum-verified and their published user/item/interaction counts are
    checked. A folder keeps the path as given as its name (even one called ``amazon-baby``: it is
    not verified against the registry); its files' sha256 are in ``identity``
    (:func:`~mmrs.data.registry.dataset_identity`). Sizes are the registry's counts, else
    ``n_users``/``n_items``, else ``max id + 1``. ``x_label`` is used when present; otherwise
    MMRec's rule with ``seed``.
    """
    identity = dataset_identity(dataset)
    folder, name = Path(identity["source"]), identity["name"]
    registered = identity["registry"]
    if registered:
        counts = REGISTRY[name].counts
        n_users, n_items = counts["users"], counts["items"]
    path = _find_inter(folder)
    frame = read_inter(path, n_users=n_users, n_items=n_items)
    users = frame["userID"].to_numpy()
    items = frame["itemID"].to_numpy()
    n_users = n_users if n_users is not None else int(users.max()) + 1
    n_items = n_items if n_items is not None else int(items.max()) + 1
    if registered and len(frame) != REGISTRY[name].counts["interactions"]:
        raise _fail(
            path,
            f"has {len(frame):,} interactions, expected {REGISTRY[name].counts['interactions']:,}",
            "The file does not match the published dataset.",
        )
    if "x_label" in frame:
        labels, source = frame["x_label"].to_numpy(), "x_label column"
    else:
        labels, source = mmrec_split_labels(users, seed), f"MMRec rule, seed {seed}"
    features = load_features(folder, n_items)
    data = from_labelled_pairs(users, items, labels, n_users, n_items, name, source, features)
    data.identity = identity
    return data
