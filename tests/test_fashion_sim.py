"""fashion-sim: deterministic, 5-core, sparse, degrees like the real dataset, tastes recoverable."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require
from scipy.stats import ks_2samp

from mmrs.data.fashion_sim import simulate_fashion, taste_hit_rates


@pytest.fixture(scope="module")
def catalogue():
    require("fashion-small")
    require("amazon-clothing")
    from mmrs.data import load_fashion

    return load_fashion()


@pytest.fixture(scope="module")
def sim(catalogue):
    # 4,500 items: large enough for >= 99.8 % sparsity after the 5-core, fast without features
    return simulate_fashion(n_users=11000, n_items=4500, seed=11, features=False, progress=False,
                            catalogue=catalogue)


def test_deterministic(catalogue):
    a = simulate_fashion(size="ci", seed=3, features=False, progress=False, catalogue=catalogue)
    b = simulate_fashion(size="ci", seed=3, features=False, progress=False, catalogue=catalogue)
    assert (a.data.train != b.data.train).nnz == 0 and (a.data.test != b.data.test).nnz == 0
    assert a.items["product_id"].tolist() == b.items["product_id"].tolist()
    c = simulate_fashion(size="ci", seed=4, features=False, progress=False, catalogue=catalogue)
    assert a.items["product_id"].tolist() != c.items["product_id"].tolist()


def test_five_core_sparsity_and_split(sim):
    full = (sim.data.train + sim.data.valid + sim.data.test).tocsr()
    assert np.asarray(full.getnnz(axis=1)).min() >= 5
    assert np.asarray(full.getnnz(axis=0)).min() >= 5
    assert sim.data.sparsity >= 0.998
    assert sim.data.name == "fashion-sim"
    # MMRec's rule: every user has one valid and one test item at least
    assert np.asarray(sim.data.valid.getnnz(axis=1)).min() >= 1
    assert np.asarray(sim.data.test.getnnz(axis=1)).min() >= 1
    assert len(sim.tastes) == sim.data.n_users and len(sim.items) == sim.data.n_items


def test_degrees_follow_the_real_dataset(sim):
    full = (sim.data.train + sim.data.valid + sim.data.test).tocsr()
    users = np.asarray(full.getnnz(axis=1))
    assert ks_2samp(users, sim.target_user_degrees).statistic < 0.05
    items = np.asarray(full.getnnz(axis=0)).astype(float)
    target = sim.target_item_degrees.astype(float)
    # shape of the popularity distribution, relative to the mean: quantiles within 25 %
    q = [0.5, 0.9, 0.99]
    ratio = (np.quantile(items, q) / items.mean()) / (np.quantile(target, q) / target.mean())
    assert np.all(np.abs(ratio - 1) < 0.25), ratio


def test_tastes_are_recoverable(sim):
    article = taste_hit_rates(sim, "articleType")
    colour = taste_hit_rates(sim, "baseColour")
    assert article["observed"] > 3 * article["chance"]
    assert colour["observed"] > 1.5 * colour["chance"]
