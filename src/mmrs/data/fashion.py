"""The "Fashion Product Images (Small)" catalogue: validated metadata, titles and lazy photos.

Folder layout (registry name ``fashion-small``)::

    styles.csv       id, gender, masterCategory, subCategory, articleType, baseColour,
                     season, year, usage                    (one row per product)
    styles_text.csv  productDisplayName                     (row-aligned with styles.csv)
    images.zip       images/<id>.jpg                        (60x80 px photos)

:func:`load_fashion` merges the two csv files into one frame indexed by product id, with a
``title`` column and a ``has_image`` flag. Missing titles (published as the literal ``NA``, or
empty) are kept as empty strings and listed in :attr:`FashionCatalogue.missing_titles`;
products without a photo are kept and listed in :attr:`FashionCatalogue.missing_images`.
Photos are decoded on demand from the zip, which is opened lazily once per process, so a
catalogue can be handed to a multi-worker ``DataLoader``.

The category tree has 7 / 45 / 143 distinct labels at its three levels on the real data. A few
labels sit under more than one parent (``Socks`` under ``Apparel`` and ``Accessories``, for
example), so the nested tree has more nodes (7 / 47 / 170) than there are distinct labels.
"""

from __future__ import annotations

import io
import os
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from .registry import REGISTRY, DatasetError, dataset_path

STYLES_FILE = "styles.csv"
TEXT_FILE = "styles_text.csv"
IMAGES_FILE = "images.zip"
IMAGE_DIR = "images"

STYLE_COLUMNS = (
    "id",
    "gender",
    "masterCategory",
    "subCategory",
    "articleType",
    "baseColour",
    "season",
    "year",
    "usage",
)
TITLE_COLUMN = "productDisplayName"
LEVELS = ("masterCategory", "subCategory", "articleType")
MISSING_TITLE_MARKERS = ("", "NA")
"""Title values that mean "no title" (the published file writes ``NA``)."""


class MissingImageError(DatasetError, KeyError):
    """A product has no photo in ``images.zip`` (or the id is unknown)."""

    __str__ = DatasetError.__str__  # KeyError would quote the whole message


def _fail(path: Path, problem: str, fix: str) -> DatasetError:
    return DatasetError(f"{path}: {problem}. {fix}")


def _read_csv(path: Path) -> pd.DataFrame:
    """Read a comma-separated file as strings (no NA guessing); name the file on failure.

    Blank lines are kept as rows: in the one-column title file an empty title is a blank line,
    and dropping it would shift every later title onto the wrong product.
    """
    if not path.is_file():
        raise _fail(path, "file not found", "Check the folder (or MMRS_DATA) holds the catalogue.")
    try:
        return pd.read_csv(
            path, dtype=str, keep_default_na=False, skip_blank_lines=False, encoding="utf-8"
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise _fail(path, f"cannot be parsed as UTF-8 csv ({err})", "Copy the file again.") from err


def _check_columns(frame: pd.DataFrame, path: Path, required: tuple[str, ...]) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise _fail(
            path,
            f"missing column(s) {missing}; found {list(frame.columns)}",
            f"The file needs a header with {', '.join(required)}.",
        )


def _parse_ids(frame: pd.DataFrame, path: Path) -> np.ndarray:
    """Product ids as int64; non-integer or duplicate ids raise, naming the csv line."""
    raw = frame["id"].str.strip()
    values = pd.to_numeric(raw, errors="coerce")
    bad = (values.isna() | (values != np.floor(values))).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise _fail(
            path,
            f"column 'id' has a non-integer value {frame['id'].iloc[row]!r} on line {row + 2}",
            "Product ids must be whole numbers (they name the photos images/<id>.jpg).",
        )
    ids = values.to_numpy(dtype=np.int64)
    dup = pd.Series(ids).duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        first = int(ids[rows[0]])
        lines = [int(r) + 2 for r in rows if ids[r] == first]
        raise _fail(
            path,
            f"{int(pd.Series(ids).duplicated().sum())} duplicate product id(s); id {first} "
            f"appears on lines {lines}",
            "Each product must appear once; deduplicate the file.",
        )
    return ids


def _zip_image_ids(path: Path) -> set[int]:
    """Ids with a member ``images/<id>.jpg`` in the zip (other members are ignored)."""
    if not path.is_file():
        raise _fail(path, "file not found", "Put the catalogue's images.zip beside styles.csv.")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile as err:
        raise _fail(path, f"is not a readable zip ({err})", "Copy images.zip again.") from err
    ids: set[int] = set()
    prefix = IMAGE_DIR + "/"
    for name in names:
        if name.startswith(prefix) and name.endswith(".jpg"):
            stem = name[len(prefix) : -len(".jpg")]
            if stem.isdigit():
                ids.add(int(stem))
    return ids


@dataclass(eq=False)
class FashionCatalogue:
    """Fashion products with categories, titles and lazily decoded photos.

    ``products`` is indexed by product id (int) and has the columns of ``styles.csv`` (``year``
    as a nullable integer), ``title`` (empty string when missing) and ``has_image``.
    """

    name: str
    folder: Path
    products: pd.DataFrame
    missing_titles: list[int]
    missing_images: list[int]
    _zip: zipfile.ZipFile | None = field(default=None, init=False, repr=False, compare=False)
    _zip_pid: int | None = field(default=None, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )
    _lock_pid: int = field(default_factory=os.getpid, init=False, repr=False, compare=False)

    # -- sizes ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.products)

    @property
    def images_path(self) -> Path:
        """Path of ``images.zip``."""
        return self.folder / IMAGES_FILE

    def image_ids(self) -> list[int]:
        """Ids of the products that have a photo, in catalogue order."""
        return [int(i) for i in self.products.index[self.products["has_image"].to_numpy()]]

    # -- categories ----------------------------------------------------------------------
    def level(self, name: str) -> pd.Series:
        """Category labels at one level (``masterCategory``, ``subCategory``, ``articleType``)."""
        if name not in LEVELS:
            raise ValueError(f"Unknown category level {name!r}; choose one of {LEVELS}.")
        return self.products[name]

    def category_counts(self) -> dict[str, int]:
        """Number of distinct labels per level (7 / 45 / 143 on the real data)."""
        return {lvl: int(self.products[lvl].nunique()) for lvl in LEVELS}

    def category_tree(self) -> dict[str, dict[str, dict[str, int]]]:
        """Nested ``{master: {sub: {articleType: n_products}}}``, keys sorted alphabetically."""
        counts = self.products.groupby(list(LEVELS), sort=True).size()
        tree: dict[str, dict[str, dict[str, int]]] = {}
        for (master, sub, article), n in counts.items():
            tree.setdefault(master, {}).setdefault(sub, {})[article] = int(n)
        return tree

    # -- images --------------------------------------------------------------------------
    def _process_lock(self) -> threading.Lock:
        """This process's lock (a forked child must not inherit a lock held at fork time)."""
        if self._lock_pid != os.getpid():
            self._lock, self._lock_pid = threading.Lock(), os.getpid()
        return self._lock

    def _archive(self) -> zipfile.ZipFile:
        """The zip handle of this process, (re)opened lazily after a fork."""
        pid = os.getpid()
        if self._zip is None or self._zip_pid != pid:
            self._zip = zipfile.ZipFile(self.images_path)
            self._zip_pid = pid
        return self._zip

    def image_bytes(self, product_id: int) -> bytes:
        """The raw JPEG bytes of one product's photo."""
        product_id = int(product_id)
        if product_id not in self.products.index:
            raise MissingImageError(
                f"{self.images_path}: product id {product_id} is not in the catalogue "
                f"({STYLES_FILE}). Use an id from catalogue.products.index."
            )
        if not self.products.at[product_id, "has_image"]:
            raise MissingImageError(
                f"{self.images_path}: product id {product_id} has no photo "
                f"({IMAGE_DIR}/{product_id}.jpg is absent). Skip it: catalogue.image_ids() "
                f"lists the {int(self.products['has_image'].sum())} products that have one."
            )
        with self._process_lock():
            return self._archive().read(f"{IMAGE_DIR}/{product_id}.jpg")

    def image(self, product_id: int) -> Image.Image:
        """One product's photo as an RGB :class:`PIL.Image.Image` (60x80 on the real data)."""
        data = self.image_bytes(product_id)
        try:
            with Image.open(io.BytesIO(data)) as img:
                return img.convert("RGB")
        except (OSError, SyntaxError) as err:
            raise _fail(
                self.images_path,
                f"{IMAGE_DIR}/{int(product_id)}.jpg cannot be decoded ({err})",
                "The archive is damaged; copy images.zip again.",
            ) from err

    def close(self) -> None:
        """Close the zip handle (it reopens on the next :meth:`image` call)."""
        with self._process_lock():
            if self._zip is not None and self._zip_pid == os.getpid():
                self._zip.close()
            self._zip, self._zip_pid = None, None

    # -- pickling (DataLoader workers with the spawn start method) -----------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_zip=None, _zip_pid=None)
        del state["_lock"], state["_lock_pid"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock, self._lock_pid = threading.Lock(), os.getpid()

    def __repr__(self) -> str:
        counts = self.category_counts()
        return (
            f"FashionCatalogue({self.name!r}: {len(self):,} products, "
            f"{int(self.products['has_image'].sum()):,} photos, "
            f"{counts['masterCategory']}/{counts['subCategory']}/{counts['articleType']} "
            f"categories, {len(self.missing_titles)} missing titles, "
            f"{len(self.missing_images)} missing photos)"
        )


def load_fashion(name_or_folder: str | Path = "fashion-small") -> FashionCatalogue:
    """Load the fashion catalogue by registry name (checksum-verified) or folder path.

    Raises :class:`DatasetError` naming the file, the problem and the fix for: a missing file
    or column, differing row counts of ``styles.csv`` and ``styles_text.csv``, non-integer or
    duplicate ids, an empty category label, and (registry datasets) product or photo counts
    that differ from the published ones.
    """
    if isinstance(name_or_folder, str) and name_or_folder in REGISTRY:
        name = name_or_folder
        folder = dataset_path(name)
        expected = REGISTRY[name].counts
    else:
        folder = Path(name_or_folder)
        name, expected = folder.name, {}
        if not folder.is_dir():
            raise DatasetError(
                f"{folder}: not a registered dataset name nor a folder. Pass 'fashion-small' "
                f"(with MMRS_DATA set) or a folder holding {STYLES_FILE}, {TEXT_FILE}, {IMAGES_FILE}."
            )
    styles_path, text_path = folder / STYLES_FILE, folder / TEXT_FILE
    styles = _read_csv(styles_path)
    _check_columns(styles, styles_path, STYLE_COLUMNS)
    text = _read_csv(text_path)
    _check_columns(text, text_path, (TITLE_COLUMN,))
    if len(styles) != len(text):
        raise DatasetError(
            f"{styles_path} has {len(styles):,} rows but {text_path} has {len(text):,}. The two "
            f"files are row-aligned (line k of {TEXT_FILE} is the title of line k of "
            f"{STYLES_FILE}); copy both files again from the same release."
        )
    ids = _parse_ids(styles, styles_path)
    for lvl in LEVELS:
        empty = (styles[lvl].str.strip() == "").to_numpy()
        if empty.any():
            row = int(np.flatnonzero(empty)[0])
            raise _fail(
                styles_path,
                f"{int(empty.sum())} product(s) have an empty {lvl!r}, first on line {row + 2}",
                "Every product needs a label at each level of the category tree.",
            )
    if "products" in expected and len(styles) != expected["products"]:
        raise _fail(
            styles_path,
            f"has {len(styles):,} products, expected {expected['products']:,}",
            "The file does not match the published catalogue.",
        )

    products = styles.drop(columns="id").copy()
    products.index = pd.Index(ids, name="id")
    products["year"] = pd.to_numeric(products["year"].str.strip(), errors="coerce").astype("Int64")
    titles = text[TITLE_COLUMN].str.strip()
    no_title = titles.isin(MISSING_TITLE_MARKERS).to_numpy()
    products["title"] = titles.where(~no_title, "").to_numpy()

    image_ids = _zip_image_ids(folder / IMAGES_FILE)
    products["has_image"] = np.fromiter((i in image_ids for i in ids), dtype=bool, count=len(ids))
    n_images = int(products["has_image"].sum())
    if "images" in expected and n_images != expected["images"]:
        raise _fail(
            folder / IMAGES_FILE,
            f"holds {n_images:,} product photos, expected {expected['images']:,}",
            "The archive does not match the published catalogue; copy it again.",
        )
    return FashionCatalogue(
        name=name,
        folder=folder,
        products=products,
        missing_titles=[int(i) for i in ids[no_title]],
        missing_images=[int(i) for i in ids[~products["has_image"].to_numpy()]],
    )
