"""Shared fixtures: the real datasets are used when MMRS_DATA has them, else those tests skip."""

from __future__ import annotations

import matplotlib
import pytest

from mmrs.data import available

matplotlib.use("Agg")  # tests draw figures without a display


def require(name: str) -> None:
    """Skip the calling test when dataset ``name`` is not available under MMRS_DATA."""
    if not available(name):
        pytest.skip(f"dataset {name!r} not available under MMRS_DATA")


@pytest.fixture(scope="session")
def baby():
    require("amazon-baby")
    from mmrs.data import load_interactions

    return load_interactions("amazon-baby")
