"""Tests of the simulated fashion listings, their perturbations, the run helpers and plots."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mmrs import records
from mmrs.chapters.matching import load_record, record_table, shopee_reference
from mmrs.chapters.matching_plots import (
    group_similarity,
    plot_ladder,
    plot_similarity_heatmap,
    plot_threshold_curve,
)
from mmrs.data import available
from mmrs.experiments.matching import subsample_groups
from mmrs.matching.fashion_listings import build_fashion_listings, fashion_products
from mmrs.matching.perturb import ABBREVIATIONS, PROMOS, perturb_image, perturb_title

needs_fashion = pytest.mark.skipif(
    not available("fashion-small"), reason="fashion-small not found under MMRS_DATA"
)


def _photo() -> Image.Image:
    grad = np.linspace(0, 255, 60, dtype=np.uint8)
    return Image.fromarray(np.stack([np.tile(grad, (80, 1))] * 3, axis=2))


def test_perturb_image_is_seeded_and_keeps_size():
    img = _photo()
    a, pa = perturb_image(img, np.random.default_rng(5))
    b, pb = perturb_image(img, np.random.default_rng(5))
    c, _ = perturb_image(img, np.random.default_rng(6))
    assert a.size == img.size and a.mode == "RGB"
    assert pa == pb and np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    left, top, w, h = pa["crop"]
    assert (
        0.75 * 60 - 1 <= w <= 60 and 0.75 * 80 - 1 <= h <= 80 and left + w <= 60 and top + h <= 80
    )
    assert 30 <= pa["jpeg_quality"] <= 90
    assert all(0.8 <= pa[k] <= 1.2 for k in ("brightness", "contrast", "saturation"))


def test_perturb_title_draws_each_kind():
    title = "Nike Men's Black Sports Shoes"
    seen: set[str] = set()
    for seed in range(60):
        new, edits = perturb_title(title, np.random.default_rng(seed))
        seen |= set(edits)
        if "promo" in edits:
            assert any(p in new for p in PROMOS)
        if not edits:
            assert new == title
    assert seen == {"abbreviation", "typo", "shuffle", "promo"}
    assert perturb_title("", np.random.default_rng(0)) == ("", [])
    assert ABBREVIATIONS["men's"] == "Mens"


@pytest.fixture(scope="module")
def listings():
    if not available("fashion-small"):
        pytest.skip("fashion-small not found under MMRS_DATA")
    from mmrs.data import load_fashion

    return build_fashion_listings(load_fashion(), 40, seed=3, hard_share=0.5)


@needs_fashion
def test_fashion_listings_structure(listings):
    frame = listings.listings
    per_product = frame.groupby("product_id").size()
    assert len(per_product) == 40 and per_product.between(2, 4).all()
    assert (frame["group_id"] == frame["product_id"]).all()
    assert list(frame["listing_id"]) == list(range(len(frame)))
    # hard negatives: different products with the same original title
    hard = frame[frame["hard_negative"]].drop_duplicates("product_id")
    assert len(hard) >= 0.4 * 40
    assert (hard.groupby("original_title")["product_id"].nunique() >= 2).all()
    assert len(set(listings.keys())) == len(frame)


@needs_fashion
def test_fashion_listings_are_reproducible(listings):
    again = build_fashion_listings(listings.catalogue, 40, seed=3, hard_share=0.5)
    pd.testing.assert_frame_equal(again.listings, listings.listings)
    assert np.array_equal(np.asarray(again.image(5)), np.asarray(listings.image(5)))
    other = build_fashion_listings(listings.catalogue, 40, seed=4, hard_share=0.5)
    assert set(other.listings["product_id"]) != set(listings.listings["product_id"])
    assert len(listings.images([0, 1, 2])) == 3
    with pytest.raises(ValueError):
        build_fashion_listings(listings.catalogue, 1)


def test_profile_sizes():
    assert fashion_products("ci") < fashion_products("full")


def test_subsample_groups_keeps_whole_groups():
    frame = pd.DataFrame({"group_id": [0, 0, 1, 2, 2, 2, 3], "x": range(7)})
    sub = subsample_groups(frame, 2, seed=0)
    assert sub["group_id"].nunique() == 2
    counts = frame["group_id"].value_counts()
    assert all(sub["group_id"].value_counts()[g] == counts[g] for g in sub["group_id"].unique())
    assert subsample_groups(frame, None, 0) is frame


def test_reference_and_records(tmp_path):
    ref = shopee_reference()
    assert ref["public_lb_f1"].iloc[-1] == 0.793
    assert ref.loc["image only", "public_lb_f1"] == 0.70 and (ref["source"] != "").all()
    ladder = [{"step": "a", "val_f1": 0.5, "test_f1": 0.6, "test_precision": 0.7,
               "test_recall": 0.8, "seconds": 1.0, "config": {}}]
    record = records.new_record("matching", dataset=records.dataset_entry("toy"), config={},
                                metrics={"ladder": ladder}, argv=["test"])
    path = tmp_path / "r.json"
    records.save(record, path)
    table = record_table(load_record(path))
    assert table.loc["a", "test_f1"] == 0.6 and "config" not in table
    with pytest.raises(FileNotFoundError, match="mmrs.experiments.matching"):
        load_record(tmp_path / "missing.json")


def test_plots_draw_what_they_say():
    curve = pd.DataFrame(
        {"f1": [0.2, 0.8, 0.5], "precision": [1, 0.9, 0.4], "recall": [0.1, 0.7, 0.9]},
        index=[0.1, 0.2, 0.3],
    )
    ax = plot_threshold_curve(curve, chosen=0.2, title="t")
    assert len(ax.lines) == 4 and list(ax.lines[0].get_ydata()) == [0.2, 0.8, 0.5]
    with pytest.raises(ValueError):
        plot_threshold_curve(curve.drop(columns="f1"))
    table = pd.DataFrame({"test_f1": [0.5, 0.7]}, index=["x", "y"])
    ax = plot_ladder({"d1": table, "d2": table + 0.1})
    assert len(ax.lines) == 2 and [t.get_text() for t in ax.get_xticklabels()] == ["x", "y"]
    x = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
    sim = group_similarity(x, [0, 1])
    np.testing.assert_allclose(sim, [[1.0, 0.6], [0.6, 1.0]], atol=1e-6)
    ax = plot_similarity_heatmap(sim, ["a", "b"])
    assert sorted(t.get_text() for t in ax.texts) == ["0.60", "0.60", "1.00", "1.00"]
    with pytest.raises(ValueError):
        plot_similarity_heatmap(sim, ["a"])
    plt.close("all")


def test_inspect_helpers_and_image_grid():
    from mmrs.chapters.matching_plots import plot_images
    from mmrs.matching.inspect import group_cohesion, hardest_group, neighbourhood_rows

    x = np.array(
        [[1, 0, 0], [0.8, 0.6, 0], [1, 0, 0], [0, 1, 0], [0, 0.6, 0.8], [0.9, 0.1, 0]],
        dtype=np.float32,
    )
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    groups = np.array([0, 0, 0, 1, 1, 1])
    cohesion = group_cohesion(x, groups)
    assert set(cohesion) == {0, 1} and hardest_group(x, groups) == 1
    rows = neighbourhood_rows(x, groups, 1, outsiders=1)
    assert (
        list(rows[:3]) == [3, 4, 5] and rows[3] == 0
    )  # 0 and 2 tie (cos 0.994 with 5): first wins
    with pytest.raises(ValueError):
        group_cohesion(x, groups, min_size=4)
    fig = plot_images([_photo(), _photo()], ["a", "b"], ncols=3)
    assert [ax.get_title() for ax in fig.axes[:2]] == ["a", "b"]
    plt.close(fig)


def test_marked_matches_and_find_record():
    from mmrs.chapters.matching import find_record
    from mmrs.matching.inspect import marked_matches
    from mmrs.matching.knn import Neighbours

    nb = Neighbours(np.array([[0, 1, 2]]).repeat(3, 0), np.array([[1.0, 0.9, 0.85]]).repeat(3, 0))
    assert marked_matches(nb, 0.2, np.array([0, 0, 1]), 0) == "·0 ·1 ×2"
    assert find_record("abt-buy").name == "matching_abt-buy.json"
