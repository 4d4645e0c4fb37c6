"""The chapter figures draw what they claim (checked on the plotted data, not just 'it ran')."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from mmrs.chapters.plots import (
    plot_degree_ccdf,
    plot_history,
    plot_kcore_sweep,
    plot_lorenz,
    plot_metric_by,
    plot_split_item_degrees,
)
from mmrs.data import degrees, kcore_sweep, synthetic_interactions, train_degree_of_split_items


@pytest.fixture(scope="module")
def data():
    return synthetic_interactions(n_users=120, n_items=60, seed=5)


def test_ccdf_lines_start_at_one_and_decrease(data):
    ax = plot_degree_ccdf([data], side="item")
    (line,) = ax.get_lines()
    x, y = line.get_data()
    _, item_deg = degrees(data.train + data.valid + data.test)
    assert x[0] == item_deg.min() and y[0] == pytest.approx(1.0)
    assert np.all(np.diff(y) <= 0) and ax.get_xscale() == "log"
    plt.close("all")


def test_ccdf_rejects_unknown_side(data):
    with pytest.raises(ValueError, match="side"):
        plot_degree_ccdf([data], side="both")


def test_lorenz_ends_at_100(data):
    ax = plot_lorenz([data])
    x, y = ax.get_lines()[0].get_data()
    assert (x[0], y[0], x[-1]) == (0.0, 0.0, 100.0) and y[-1] == pytest.approx(100.0)
    plt.close("all")


def test_kcore_plot_uses_kept_share(data):
    sweep = kcore_sweep(*data.all_pairs(), [1, 5, 8])
    ax = plot_kcore_sweep({"synthetic": sweep})
    x, y = ax.get_lines()[0].get_data()
    assert list(x) == [1, 5, 8] and y[0] == pytest.approx(100.0)
    plt.close("all")


def test_split_histogram_counts_every_test_interaction(data):
    ax = plot_split_item_degrees(data, "test", max_degree=10)
    heights = [p.get_height() for p in ax.patches]
    assert sum(heights) == data.test.nnz
    deg = np.minimum(train_degree_of_split_items(data, "test"), 10)
    assert heights == list(np.bincount(deg, minlength=11).astype(float))
    plt.close("all")


def test_history_plot_marks_best_epoch():
    record = {
        "model": "bpr",
        "dataset": {"name": "toy"},
        "body": {"best_epoch": 2, "history": [
            {"epoch": 1, "recall@20": 0.1},
            {"epoch": 2, "recall@20": 0.3},
            {"epoch": 3, "recall@20": 0.2},
        ]},
    }
    record["config"] = {"model": {"n_layers": 2}}
    ax = plot_history([record])
    assert ax.get_legend().get_texts()[0].get_text() == "bpr L=2 (toy)"
    curve, star = ax.get_lines()
    assert list(curve.get_xdata()) == [1, 2, 3] and list(curve.get_ydata()) == [0.1, 0.3, 0.2]
    assert list(star.get_xdata()) == [2] and list(star.get_ydata()) == [0.3]
    plt.close("all")


def test_metric_by_plots_each_column():
    import pandas as pd

    table = pd.DataFrame({"layers": [0, 1, 2], "a": [0.1, 0.2, 0.15], "b": [0.0, 0.1, 0.3]})
    ax = plot_metric_by(table, "layers", ["a", "b"])
    assert [list(line.get_ydata()) for line in ax.get_lines()] == [[0.1, 0.2, 0.15], [0.0, 0.1, 0.3]]
    assert list(ax.get_xticks()) == [0, 1, 2]  # integer x values get integer ticks
    plt.close("all")
