"""Product-matching benchmarks (Abt-Buy, Amazon-Google) as one pooled table of listings.

Each benchmark has two listing files (a "left" and a "right" shop) and ``gt.csv``, the true
matching pairs ``D1`` (left id) / ``D2`` (right id):

=================  ==========================  ===  =========================================
registry name      left / right files          sep  columns
=================  ==========================  ===  =========================================
``abt-buy``        ``abt.csv`` / ``buy.csv``   ``|``  id, name, description, price
``amazon-google``  ``amazon.csv`` / ``gp.csv``  ``#``  id, title, description, manufacturer, price
=================  ==========================  ===  =========================================

The published files are unquoted UTF-8 (``gp.csv`` has CRLF line ends and non-ASCII text), so
they are split by hand: every line must have exactly as many fields as the header, otherwise
the error names the file and line. Prices: an empty price or a placeholder price of ``0``
(199 Amazon listings) is missing (NaN); 61 Google prices carry a ``gbp`` suffix, kept as the
number with ``currency='GBP'`` (the others are US shops: ``'USD'``).

The listings of both shops are pooled (``listing_id`` 0..n-1, left shop first) and grouped
by the connected components of the true pairs, as Shopee-style matching is scored: each
listing's true matches are the listings in its group, itself included.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .registry import REGISTRY, DatasetError, dataset_path

GT_FILE = "gt.csv"
GT_COLUMNS = ("D1", "D2")
LISTING_COLUMNS = (
    "listing_id",
    "source",
    "source_id",
    "title",
    "description",
    "price",
    "currency",
    "manufacturer",
    "group_id",
)


@dataclass(frozen=True)
class MatchingLayout:
    """File names, separator and columns of one benchmark's folder."""

    left_file: str
    right_file: str
    left_source: str
    right_source: str
    sep: str
    title_column: str
    has_manufacturer: bool

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns each listing file must have."""
        extra = ("manufacturer",) if self.has_manufacturer else ()
        return ("id", self.title_column, "description", *extra, "price")


LAYOUTS: dict[str, MatchingLayout] = {
    "abt-buy": MatchingLayout("abt.csv", "buy.csv", "abt", "buy", "|", "name", False),
    "amazon-google": MatchingLayout("amazon.csv", "gp.csv", "amazon", "google", "#", "title", True),
}

_PRICE = re.compile(r"^\$?\s*([0-9][0-9,]*(?:\.[0-9]*)?|\.[0-9]+)\s*(gbp|usd)?$", re.IGNORECASE)


def _fail(path: Path, problem: str, fix: str) -> DatasetError:
    return DatasetError(f"{path}: {problem}. {fix}")


def read_separated(path: Path, sep: str, required: tuple[str, ...]) -> pd.DataFrame:
    """Read an unquoted ``sep``-separated UTF-8 file as strings, validating its shape.

    Each line must have exactly as many fields as the header (a separator inside a text field
    cannot be told apart from a field boundary, so it is reported, not guessed). Blank lines
    are skipped; a leading BOM and CRLF line ends are accepted. Returns a frame of the
    ``required`` columns plus a ``_line`` column holding the 1-based line number.
    """
    if not path.is_file():
        raise _fail(path, "file not found", "Check the folder (or MMRS_DATA) holds the benchmark.")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise _fail(
            path, f"is not valid UTF-8 (byte {err.start}: {err.reason})", "Copy the file again."
        ) from err
    lines = [(no, line.rstrip("\r")) for no, line in enumerate(text.split("\n"), start=1)]
    lines = [(no, line) for no, line in lines if line.strip()]
    if not lines:
        raise _fail(path, "file is empty", "Copy the complete file again.")
    header = [h.strip() for h in lines[0][1].split(sep)]
    missing = [c for c in required if c not in header]
    if missing:
        raise _fail(
            path,
            f"missing column(s) {missing}; found {header} (separator {sep!r})",
            f"The header must name {sep.join(required)}.",
        )
    rows, numbers = [], []
    for no, line in lines[1:]:
        fields = line.split(sep)
        if len(fields) != len(header):
            raise _fail(
                path,
                f"line {no} has {len(fields)} fields, the header has {len(header)} "
                f"(a stray {sep!r} in a text field, or a truncated line?)",
                f"Remove the extra {sep!r} from the text or copy the file again.",
            )
        rows.append(fields)
        numbers.append(no)
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    if frame.columns.duplicated().any():
        raise _fail(path, f"repeated column name(s) in header {header}", "Fix the header.")
    frame = frame.loc[:, list(required)].astype(str)
    frame["_line"] = numbers
    return frame


def _parse_ids(frame: pd.DataFrame, column: str, path: Path) -> list[str]:
    """Stripped, non-empty ids; duplicates raise, naming the lines."""
    ids = frame[column].str.strip()
    empty = (ids == "").to_numpy()
    if empty.any():
        line = int(frame["_line"].iloc[int(np.flatnonzero(empty)[0])])
        raise _fail(path, f"empty {column!r} on line {line}", "Every row needs an id.")
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        first = ids.iloc[int(np.flatnonzero(dup)[0])]
        lines = frame["_line"][(ids == first).to_numpy()].tolist()
        raise _fail(
            path,
            f"{int(ids.duplicated().sum())} duplicate id(s); id {first!r} appears on lines {lines}",
            "Each listing must appear once; deduplicate the file.",
        )
    return ids.tolist()


def parse_price(value: str) -> tuple[float, str]:
    """``(price, currency)`` from a price field; ``(nan, '')`` when empty or ``<= 0``.

    Accepts ``399``, ``9.99``, ``$1,299.00`` and ``69.71 gbp``; raises ``ValueError`` otherwise.
    """
    value = value.strip()
    if not value:
        return float("nan"), ""
    match = _PRICE.match(value)
    if match is None:
        raise ValueError(f"unreadable price {value!r}")
    price = float(match.group(1).replace(",", ""))
    if price <= 0:
        return float("nan"), ""
    return price, (match.group(2) or "usd").upper()


def _read_listings(path: Path, layout: MatchingLayout, source: str) -> pd.DataFrame:
    frame = read_separated(path, layout.sep, layout.columns)
    ids = _parse_ids(frame, "id", path)
    prices, currencies = [], []
    for value, line in zip(frame["price"], frame["_line"], strict=True):
        try:
            price, currency = parse_price(value)
        except ValueError as err:
            raise _fail(path, f"{err} on line {line}", "Prices must be numbers.") from err
        prices.append(price)
        currencies.append(currency)
    manufacturer = frame["manufacturer"].str.strip() if layout.has_manufacturer else ""
    return pd.DataFrame(
        {
            "source": source,
            "source_id": ids,
            "title": frame[layout.title_column].str.strip().to_numpy(),
            "description": frame["description"].str.strip().to_numpy(),
            "price": np.asarray(prices, dtype=np.float64),
            "currency": currencies,
            "manufacturer": manufacturer,
        }
    )


def group_labels(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected-component label of each of ``n`` nodes linked by ``pairs`` (shape (m, 2)).

    Labels are 0..k-1, numbered in order of each group's smallest node; nodes in no pair get a
    singleton group. E.g. ``n=6``, pairs (0,1), (1,2), (3,4) gives ``[0, 0, 0, 1, 1, 2]``.
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    graph = sp.coo_matrix(
        (np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n)
    )
    _, labels = connected_components(graph, directed=False)
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))  # rank of each component by its smallest node
    return order[inverse].astype(np.int64)


@dataclass(eq=False)
class MatchingData:
    """A matching benchmark: pooled listings, true pairs and ground-truth groups.

    ``listings`` has one row per listing of both shops (columns :data:`LISTING_COLUMNS`);
    ``pairs`` is an ``(n_pairs, 2)`` int64 array of ``listing_id`` pairs (left, right).
    """

    name: str
    listings: pd.DataFrame
    pairs: np.ndarray
    sources: tuple[str, str]

    def __len__(self) -> int:
        return len(self.listings)

    @property
    def n_groups(self) -> int:
        """Number of ground-truth groups (singletons included)."""
        return int(self.listings["group_id"].nunique())

    def group_size_counts(self) -> dict[int, int]:
        """``{group size: number of groups}``."""
        sizes = Counter(self.listings["group_id"].value_counts().tolist())
        return dict(sorted(sizes.items()))

    def true_matches(self) -> list[np.ndarray]:
        """For each listing (by ``listing_id``), the sorted listing ids of its group, itself included."""
        groups = self.listings["group_id"].to_numpy()
        members = pd.Series(np.arange(len(groups))).groupby(groups).apply(np.asarray)
        return [members[g] for g in groups]

    def __repr__(self) -> str:
        counts = self.listings["source"].value_counts()
        shops = ", ".join(f"{counts.get(s, 0):,} {s}" for s in self.sources)
        return (
            f"MatchingData({self.name!r}: {len(self):,} listings ({shops}), "
            f"{len(self.pairs):,} true pairs, {self.n_groups:,} groups)"
        )


def _infer_layout(folder: Path) -> str:
    for key, layout in LAYOUTS.items():
        if (folder / layout.left_file).is_file():
            return key
    raise DatasetError(
        f"{folder}: cannot tell the benchmark (no "
        + " / ".join(layout.left_file for layout in LAYOUTS.values())
        + "). Pass layout='abt-buy' or layout='amazon-google'."
    )


def _read_gt(
    path: Path, sep: str, left: dict[str, int], right: dict[str, int], names: tuple[str, str]
) -> np.ndarray:
    frame = read_separated(path, sep, GT_COLUMNS)
    pairs = np.empty((len(frame), 2), dtype=np.int64)
    for k, (d1, d2, line) in enumerate(zip(frame["D1"], frame["D2"], frame["_line"], strict=True)):
        for col, value, index, shop in (("D1", d1, left, names[0]), ("D2", d2, right, names[1])):
            if value.strip() not in index:
                raise _fail(
                    path,
                    f"{col} id {value.strip()!r} on line {line} is not a listing id of {shop}",
                    "The ground truth must refer to listings in the two listing files; "
                    "are the files from the same release?",
                )
        pairs[k] = left[d1.strip()], right[d2.strip()]
    dup = pd.DataFrame(pairs).duplicated().to_numpy()
    if dup.any():
        line = int(frame["_line"].iloc[int(np.flatnonzero(dup)[0])])
        raise _fail(path, f"duplicate pair on line {line}", "Each true pair must appear once.")
    return pairs


def load_matching(name_or_folder: str | Path, layout: str | None = None) -> MatchingData:
    """Load ``abt-buy`` or ``amazon-google`` by registry name, or a folder in either layout.

    Registry datasets are checksum-verified and their listing and pair counts checked against
    the registry. Raises :class:`DatasetError` (naming the file, the problem and the fix) for a
    missing file or column, a malformed line, an empty or duplicate id, an unreadable price,
    ground-truth ids that are not listings, and duplicate ground-truth pairs. For a folder,
    ``layout`` is inferred from the file names when not given.
    """
    if isinstance(name_or_folder, str) and name_or_folder in REGISTRY:
        name = name_or_folder
        if name not in LAYOUTS:
            raise DatasetError(f"{name!r} is not a matching benchmark; use one of {list(LAYOUTS)}.")
        folder, layout, expected = dataset_path(name), name, REGISTRY[name].counts
    else:
        folder = Path(name_or_folder)
        if not folder.is_dir():
            raise DatasetError(
                f"{folder}: not a registered dataset name nor a folder; use one of {list(LAYOUTS)}."
            )
        name, expected = folder.name, {}
        layout = layout or _infer_layout(folder)
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown layout {layout!r}; choose one of {list(LAYOUTS)}.")
    spec = LAYOUTS[layout]
    left_path, right_path = folder / spec.left_file, folder / spec.right_file
    left = _read_listings(left_path, spec, spec.left_source)
    right = _read_listings(right_path, spec, spec.right_source)
    for path, frame, key in ((left_path, left, "left"), (right_path, right, "right")):
        if key in expected and len(frame) != expected[key]:
            raise _fail(
                path,
                f"has {len(frame):,} listings, expected {expected[key]:,}",
                "The file does not match the published benchmark.",
            )
    left_index = {sid: k for k, sid in enumerate(left["source_id"])}
    right_index = {sid: len(left) + k for k, sid in enumerate(right["source_id"])}
    gt_path = folder / GT_FILE
    pairs = _read_gt(gt_path, spec.sep, left_index, right_index, (spec.left_file, spec.right_file))
    if "pairs" in expected and len(pairs) != expected["pairs"]:
        raise _fail(
            gt_path,
            f"has {len(pairs):,} pairs, expected {expected['pairs']:,}",
            "The file does not match the published benchmark.",
        )
    listings = pd.concat([left, right], ignore_index=True)
    if listings["source_id"].str.fullmatch(r"-?[0-9]+").all():
        listings["source_id"] = listings["source_id"].astype(np.int64)
    listings.insert(0, "listing_id", np.arange(len(listings), dtype=np.int64))
    listings["group_id"] = group_labels(len(listings), pairs)
    return MatchingData(
        name=name,
        listings=listings[list(LISTING_COLUMNS)],
        pairs=pairs,
        sources=(spec.left_source, spec.right_source),
    )
