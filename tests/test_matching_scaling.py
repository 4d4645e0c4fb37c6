"""The scaling benchmark's measures and tables (mmrs.chapters.matching_scaling)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from mmrs.chapters.matching_scaling import partner_recall, plot_scaling, scaling_table
from mmrs.matching import Neighbours


def test_partner_recall_by_hand():
    # groups {0, 1, 2} and {3, 4}; listing 5 is alone (no partners, adds nothing)
    groups = np.array([7, 7, 7, 9, 9, 4])
    index = np.array(
        [
            [0, 1, 5],  # finds 1 of its 2 partners
            [1, 2, 0],  # 2 of 2
            [2, 3, 4],  # 0 of 2
            [3, 4, 0],  # 1 of 1
            [4, 1, 2],  # 0 of 1
            [5, 0, 1],
        ]
    )
    nb = Neighbours(index, np.zeros(index.shape, np.float32))
    assert partner_recall(nb, groups) == pytest.approx((1 + 2 + 0 + 1 + 0) / (2 + 2 + 2 + 1 + 1))
    # rows: the lists belong to listings 3 and 0 (a sample of queries)
    sample = Neighbours(index[[3, 0]], np.zeros((2, 3), np.float32))
    assert partner_recall(sample, groups, rows=np.array([3, 0])) == pytest.approx((1 + 1) / (1 + 2))
    with pytest.raises(ValueError, match="no listing in rows has a partner"):
        partner_recall(Neighbours(index[[5]], np.zeros((1, 3), np.float32)), groups, rows=np.array([5]))


def test_scaling_table_and_plot():
    record = {"body": {
        "results": [
            {"n": 1000, "index": "exact", "strategy": "search", "seconds": 2.0, "search_seconds": [0.5] * 4,
             "extrapolated": False, "first_partner_recall": 1.0, "final_partner_recall": 1.0},
            {"n": 100000, "index": "exact", "strategy": "search", "seconds": 400.0, "search_seconds": [100.0] * 4,
             "extrapolated": True, "first_partner_recall": 1.0},
            {"n": 1000, "index": "ivf", "strategy": "rerank", "seconds": 1.0, "search_seconds": [0.4],
             "extrapolated": False, "first_partner_recall": 0.9, "final_partner_recall": 0.9,
             "first_recall_at_51_vs_exact": 0.3},
        ]
    }}
    table = scaling_table(record)
    assert list(table["searches"]) == [4, 4, 1]
    assert table.loc[2, "recall of exact top-51"] == 0.3 and np.isnan(table.loc[1, "partner recall (final)"])
    fig, ax = plt.subplots()
    plot_scaling(table, ax)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["exact, search", "ivf, rerank"]
    plt.close(fig)
