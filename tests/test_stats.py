"""Statistics and k-core on hand-made cases, and on the real data where present."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmrs.data import (
    cold_start_counts,
    degree_ccdf,
    from_labelled_pairs,
    gini,
    interaction_stats,
    k_core,
    lorenz_curve,
    reindex,
    top_share,
)


def test_gini_hand_values():
    assert gini(np.array([1, 1, 1, 1])) == 0.0
    # x = (0, 0, 0, 4), n = 4: sum (2k-n-1) x_k = (2*4-5)*4 = 12; / (4 * 4) = 0.75
    assert gini(np.array([4, 0, 0, 0])) == pytest.approx(0.75)
    # x = (1, 3): (2*1-3)*1 + (2*2-3)*3 = 2; / (2 * 4) = 0.25
    assert gini(np.array([3, 1])) == pytest.approx(0.25)


@given(st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=60))
def test_gini_bounds(values):
    g = gini(np.array(values))
    assert 0.0 <= g <= 1.0 - 1.0 / len(values) + 1e-12


def test_top_share_hand_value():
    # 10 items, top 20 % = 2 items with degrees 50 and 20 out of 100 in total
    deg = np.array([50, 20, 10, 5, 5, 4, 3, 1, 1, 1])
    assert top_share(deg, 0.2) == pytest.approx(0.70)


def test_ccdf_and_lorenz():
    values, tail = degree_ccdf(np.array([1, 1, 2, 5]))
    assert values.tolist() == [1, 2, 5]
    assert tail.tolist() == [1.0, 0.5, 0.25]
    x, y = lorenz_curve(np.array([3, 1]))
    assert x.tolist() == [0.0, 0.5, 1.0] and y.tolist() == [0.0, 0.75, 1.0]


def test_k_core_peels_in_rounds():
    # users 0,1 with items 0,1 form a 2-core; user 2 -> item 2 and user 0 -> item 2 are peeled:
    # item 2 has degree 2 at first, but user 2 (degree 1) goes in round 1, then item 2 (degree 1).
    users = np.array([0, 0, 1, 1, 2, 0])
    items = np.array([0, 1, 0, 1, 2, 2])
    result = k_core(users, items, k=2)
    assert result.keep.tolist() == [True, True, True, True, False, False]
    assert result.rounds == 3
    assert k_core(users, items, k=1).keep.all()


def test_reindex():
    new, old = reindex(np.array([10, 3, 10, 7]))
    assert new.tolist() == [2, 0, 2, 1] and old.tolist() == [3, 7, 10]


def test_stats_and_cold_start_on_a_hand_example():
    # 3 users x 4 items. Train pairs: (0,0) (0,1) (1,0) (1,1) (2,0) -> train degrees 3, 2, 0, 0.
    # Valid: (0,2) (2,1); test: (1,3) (2,2). Items 2 and 3 have no training interaction.
    users = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    items = np.array([0, 1, 2, 0, 1, 3, 0, 2, 1])
    labels = np.array([0, 0, 1, 0, 0, 2, 0, 2, 1])
    data = from_labelled_pairs(users, items, labels, 3, 4, "hand", "given")
    stats = interaction_stats(data)
    assert stats["interactions"] == 9
    assert stats["sparsity_%"] == pytest.approx(100 * (1 - 9 / 12))
    assert stats["item_degree_max"] == 3
    cold = cold_start_counts(data)
    assert cold.loc["test", "cold_items"] == 2  # items 2 and 3
    assert cold.loc["valid", "cold_items"] == 1  # item 2
    assert cold.loc["test", "cold_users"] == 0
    # both test interactions are on items of train degree 0 <= RARE; in valid, (2,1) is on item 1
    # (degree 2 <= RARE) too, so every interaction counts as on a rare item here.
    assert cold.loc["test", "interactions_on_rare_items_%"] == pytest.approx(100.0)
    assert cold.loc["valid", "rare_items"] == 2


@pytest.mark.realdata
def test_baby_is_already_five_core_and_stats(baby):
    users, items = baby.all_pairs()
    assert k_core(users, items, k=5).keep.all()
    stats = interaction_stats(baby)
    assert stats["sparsity_%"] == pytest.approx(99.8827, abs=5e-4)
    assert stats["user_degree_mean"] == pytest.approx(160_792 / 19_445)
    assert 0.0 < stats["gini_items"] < 1.0
