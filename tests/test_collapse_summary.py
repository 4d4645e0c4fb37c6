"""Chapter 4's summary of the collapse curves: peak, first step past the threshold, late mean."""

from __future__ import annotations

import pandas as pd
import pytest

from mmrs.chapters.bm3_analysis import collapse_summary


def test_collapse_summary_by_hand():
    rising = [{"step": s, "mean_cosine": c} for s, c in enumerate([0.1, 0.5, 0.96, 0.99, 0.98])]
    peaked = [{"step": s, "mean_cosine": c} for s, c in enumerate([0.5, 0.97, 0.6, 0.4, 0.5])]
    flat = pd.DataFrame({"step": range(5), "mean_cosine": [0.2] * 5})
    table = collapse_summary({"rising": rising, "peaked": peaked, "flat": flat}, last=2)
    assert table.loc["rising", "peak"] == pytest.approx(0.99) and table.loc["rising", "peak step"] == 3
    assert table.loc["rising", "first step ≥ 0.95"] == 2
    assert table.loc["rising", "mean, last 2 steps"] == pytest.approx((0.99 + 0.98) / 2)
    # a transient peak: past the threshold at step 1, settled at (0.4 + 0.5) / 2 = 0.45
    assert table.loc["peaked", "first step ≥ 0.95"] == 1
    assert table.loc["peaked", "mean, last 2 steps"] == pytest.approx(0.45)
    assert table.loc["peaked", "final"] == pytest.approx(0.5)
    assert pd.isna(table.loc["flat", "first step ≥ 0.95"])  # never collapses
    assert table.attrs["threshold"] == 0.95
