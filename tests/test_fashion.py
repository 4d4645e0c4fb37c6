"""Tests of the fashion catalogue loader: tiny fixtures for every validation case, plus real data."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from mmrs.data.fashion import LEVELS, FashionCatalogue, MissingImageError, load_fashion
from mmrs.data.registry import DatasetError, available

HEADER = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage"
STYLES = [
    "10,Men,Apparel,Topwear,Shirts,Navy Blue,Fall,2011,Casual",
    "11,Women,Apparel,Topwear,Tshirts,Red,Summer,2012,Casual",
    "12,Men,Footwear,Shoes,Casual Shoes,Black,Summer,,Casual",
    "13,Women,Accessories,Socks,Socks,White,,2016,",
    "14,Men,Apparel,Socks,Socks,Grey,Winter,2015,Sports",
]
TITLES = ["Turtle Check Men Navy Blue Shirt", "NA", 'Nike 3.5"" Shoe', "", "Puma Socks"]
COLOURS = {10: (200, 0, 0), 11: (0, 200, 0), 13: (0, 0, 200)}  # 12 and 14 have no photo


def write_catalogue(
    folder: Path,
    styles: list[str] | None = None,
    titles: list[str] | None = None,
    header: str = HEADER,
    images: dict[int, tuple[int, int, int]] | None = None,
    grey: tuple[int, ...] = (),
) -> Path:
    """Write styles.csv, styles_text.csv and an images.zip of generated 60x80 JPEGs."""
    folder.mkdir(parents=True, exist_ok=True)
    styles = STYLES if styles is None else styles
    titles = TITLES if titles is None else titles
    (folder / "styles.csv").write_text("\r\n".join([header, *styles]), encoding="utf-8")
    quoted = (f'"{t}"' if '"' in t else t for t in titles)
    text = "\r\n".join(["productDisplayName", *quoted]) + "\r\n"  # an empty title: blank line
    (folder / "styles_text.csv").write_text(text, encoding="utf-8")
    with zipfile.ZipFile(folder / "images.zip", "w") as archive:
        for pid, colour in (COLOURS if images is None else images).items():
            img = Image.new("RGB", (60, 80), colour)
            if pid in grey:
                img = img.convert("L")
            path = folder / f"{pid}.jpg"
            img.save(path, quality=95)
            archive.write(path, f"images/{pid}.jpg")
            path.unlink()
        archive.writestr("images/readme.txt", "not a photo")
    return folder


@pytest.fixture
def catalogue(tmp_path: Path) -> FashionCatalogue:
    return load_fashion(write_catalogue(tmp_path / "fashion", grey=(13,)))


def test_products_frame(catalogue: FashionCatalogue) -> None:
    products = catalogue.products
    assert len(catalogue) == 5
    assert products.index.tolist() == [10, 11, 12, 13, 14]
    assert products.index.name == "id"
    assert list(products.columns) == [
        "gender",
        "masterCategory",
        "subCategory",
        "articleType",
        "baseColour",
        "season",
        "year",
        "usage",
        "title",
        "has_image",
    ]
    assert products.at[10, "title"] == "Turtle Check Men Navy Blue Shirt"
    assert products.at[12, "title"] == 'Nike 3.5" Shoe'  # csv-escaped quote
    assert products.at[11, "title"] == ""  # published as the literal "NA"
    assert products.at[13, "title"] == ""  # a blank line, kept in place
    assert products.at[14, "title"] == "Puma Socks"
    assert pd.isna(products.at[12, "year"]) and products.at[13, "year"] == 2016
    assert products["has_image"].tolist() == [True, True, False, True, False]


def test_missing_titles_and_images_are_listed_not_dropped(catalogue: FashionCatalogue) -> None:
    assert catalogue.missing_titles == [11, 13]
    assert catalogue.missing_images == [12, 14]
    assert catalogue.image_ids() == [10, 11, 13]
    assert "2 missing titles, 2 missing photos" in repr(catalogue)


def test_image_decodes_rgb(catalogue: FashionCatalogue) -> None:
    img = catalogue.image(10)
    assert isinstance(img, Image.Image)
    assert img.mode == "RGB" and img.size == (60, 80)
    r, g, b = img.getpixel((30, 40))
    assert r > 180 and g < 30 and b < 30
    grey = catalogue.image(13)  # stored as a greyscale JPEG
    assert grey.mode == "RGB" and grey.size == (60, 80)


def test_missing_image_raises_clear_key_error(catalogue: FashionCatalogue) -> None:
    with pytest.raises(MissingImageError, match=r"product id 12 has no photo \(images/12\.jpg"):
        catalogue.image(12)
    with pytest.raises(KeyError):  # KeyError-like, for code that expects a mapping
        catalogue.image(14)
    with pytest.raises(DatasetError, match="product id 99 is not in the catalogue"):
        catalogue.image(99)


def test_zip_reopens_per_process_and_survives_pickling(catalogue: FashionCatalogue) -> None:
    catalogue.image(10)
    first = catalogue._zip
    assert first is not None
    catalogue._zip_pid = -1  # as if this object had been forked into a DataLoader worker
    catalogue.image(10)
    assert catalogue._zip is not first
    clone = pickle.loads(pickle.dumps(catalogue))
    assert clone._zip is None
    assert clone.image(11).getpixel((0, 0))[1] > 180
    assert clone.products.equals(catalogue.products)
    catalogue.close()
    assert catalogue._zip is None
    assert catalogue.image(10).size == (60, 80)


_INHERITED: list[FashionCatalogue] = []  # reaches forked workers by inheritance, not pickling


def _centre_pixel(pid: int) -> tuple[int, tuple[tuple[int, int, int], int | None]]:
    catalogue = _INHERITED[0]
    return os.getpid(), (catalogue.image(pid).getpixel((30, 40)), catalogue._zip_pid)


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_forked_workers_reopen_the_zip(catalogue: FashionCatalogue) -> None:
    catalogue.image(10)  # the parent's handle is open before the fork, as in a DataLoader
    _INHERITED[:] = [catalogue]
    try:
        with multiprocessing.get_context("fork").Pool(2) as pool:
            results = pool.map(_centre_pixel, catalogue.image_ids() * 4, chunksize=1)
    finally:
        _INHERITED.clear()
    assert all(worker != os.getpid() and zip_pid == worker for worker, (_, zip_pid) in results)
    assert [rgb[0] > 180 for _, (rgb, _) in results[:3]] == [True, False, False]
    assert catalogue._zip_pid == os.getpid()
    assert catalogue.image(11).getpixel((0, 0))[1] > 180  # the parent's handle still works


def test_concurrent_reads(catalogue: FashionCatalogue) -> None:
    ids = catalogue.image_ids() * 20
    with ThreadPoolExecutor(max_workers=4) as pool:
        sizes = list(pool.map(lambda i: catalogue.image(i).size, ids))
    assert sizes == [(60, 80)] * len(ids)


def test_category_tree_and_levels(catalogue: FashionCatalogue) -> None:
    assert catalogue.category_tree() == {
        "Accessories": {"Socks": {"Socks": 1}},
        "Apparel": {"Socks": {"Socks": 1}, "Topwear": {"Shirts": 1, "Tshirts": 1}},
        "Footwear": {"Shoes": {"Casual Shoes": 1}},
    }
    assert catalogue.category_counts() == {"masterCategory": 3, "subCategory": 3, "articleType": 4}
    assert catalogue.level("subCategory").tolist() == [
        "Topwear",
        "Topwear",
        "Shoes",
        "Socks",
        "Socks",
    ]
    assert catalogue.level("articleType").index.tolist() == [10, 11, 12, 13, 14]
    with pytest.raises(ValueError, match="Unknown category level 'gender'"):
        catalogue.level("gender")


def test_missing_column(tmp_path: Path) -> None:
    header = HEADER.replace("articleType", "article_type")
    folder = write_catalogue(tmp_path, header=header)
    with pytest.raises(DatasetError, match=r"styles\.csv: missing column\(s\) \['articleType'\]"):
        load_fashion(folder)


def test_missing_title_column(tmp_path: Path) -> None:
    folder = write_catalogue(tmp_path)
    (folder / "styles_text.csv").write_text("title\na\nb\nc\nd\ne\n")
    with pytest.raises(DatasetError, match=r"styles_text\.csv: missing column.*productDisplayName"):
        load_fashion(folder)


def test_row_count_mismatch_names_both_files(tmp_path: Path) -> None:
    folder = write_catalogue(tmp_path, titles=TITLES[:4])
    with pytest.raises(DatasetError) as info:
        load_fashion(folder)
    message = str(info.value)
    assert "styles.csv has 5 rows" in message and "styles_text.csv has 4" in message


def test_duplicate_id(tmp_path: Path) -> None:
    styles = [*STYLES[:4], STYLES[4].replace("14,", "11,", 1)]
    with pytest.raises(
        DatasetError, match=r"duplicate product id.*id 11 appears on lines \[3, 6\]"
    ):
        load_fashion(write_catalogue(tmp_path, styles=styles))


def test_non_integer_id(tmp_path: Path) -> None:
    styles = [*STYLES[:2], STYLES[2].replace("12,", "12a,", 1), *STYLES[3:]]
    with pytest.raises(DatasetError, match=r"non-integer value '12a' on line 4"):
        load_fashion(write_catalogue(tmp_path, styles=styles))


def test_empty_category_label(tmp_path: Path) -> None:
    styles = [*STYLES[:3], STYLES[3].replace("Socks,Socks", "Socks,"), STYLES[4]]
    with pytest.raises(DatasetError, match=r"empty 'articleType', first on line 5"):
        load_fashion(write_catalogue(tmp_path, styles=styles))


def test_missing_files_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a registered dataset name nor a folder"):
        load_fashion(tmp_path / "nowhere")
    folder = write_catalogue(tmp_path / "a")
    (folder / "images.zip").unlink()
    with pytest.raises(DatasetError, match=r"images\.zip: file not found"):
        load_fashion(folder)
    folder = write_catalogue(tmp_path / "b")
    (folder / "images.zip").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="not a readable zip"):
        load_fashion(folder)


# -- real data -----------------------------------------------------------------------------

needs_fashion = pytest.mark.skipif(
    not available("fashion-small"), reason="fashion-small not found under MMRS_DATA"
)


@pytest.fixture(scope="module")
def real() -> FashionCatalogue:
    return load_fashion("fashion-small")


@pytest.mark.realdata
@needs_fashion
def test_real_counts(real: FashionCatalogue) -> None:
    assert len(real) == 44_446
    assert int(real.products["has_image"].sum()) == 44_441
    assert len(real.image_ids()) == 44_441
    assert sorted(real.missing_images) == [12347, 39401, 39403, 39410, 39425]
    # The 7 titles published as "NA" (checked with the csv module on the raw file).
    assert sorted(real.missing_titles) == [30991, 30992, 42863, 42878, 43119, 45687, 45698]
    assert (real.products.loc[real.missing_titles, "title"] == "").all()
    assert real.products.index.is_unique


@pytest.mark.realdata
@needs_fashion
def test_real_category_tree(real: FashionCatalogue) -> None:
    assert real.category_counts() == {"masterCategory": 7, "subCategory": 45, "articleType": 143}
    tree = real.category_tree()
    assert len(tree) == 7
    # Some labels hang under several parents (Socks: Apparel and Accessories; Perfumes:
    # Accessories and Personal Care), so the tree has 47 sub nodes and 170 leaves.
    assert sum(len(subs) for subs in tree.values()) == 47
    assert sum(len(arts) for subs in tree.values() for arts in subs.values()) == 170
    assert (
        sum(n for subs in tree.values() for arts in subs.values() for n in arts.values()) == 44_446
    )
    assert "Socks" in tree["Apparel"] and "Socks" in tree["Accessories"]
    masters = real.level("masterCategory").value_counts()
    assert masters["Apparel"] == 21_400 and masters["Home"] == 1
    for name in LEVELS:
        assert real.level(name).notna().all()


@pytest.mark.realdata
@needs_fashion
def test_real_image(real: FashionCatalogue) -> None:
    img = real.image(15970)
    assert img.mode == "RGB" and img.size == (60, 80)
    with pytest.raises(MissingImageError, match="12347"):
        real.image(12347)
