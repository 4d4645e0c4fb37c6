"""The one size knob: ``MMRS_PROFILE`` selects how big every expensive step is.

``ci``   small and fast: each chapter executes in a few minutes on 2 CPU cores (the default).
``full`` the papers' settings, used by the replication commands that write ``book/results``.

Chapters and library code read sizes from :func:`profile` and never scatter literals.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

PROFILE_ENV = "MMRS_PROFILE"


@dataclass(frozen=True)
class Profile:
    """Sizes that depend on the profile."""

    name: str
    max_epochs: int
    """Upper bound on training epochs (early stopping usually ends runs sooner)."""
    datasets: tuple[str, ...]
    """Interaction datasets a chapter walks through."""
    patience: int = 20
    """Early stopping: evaluations without a gain in valid Recall@20 before training stops."""
    matching_products: int = 120
    """Fashion products turned into simulated listings for Chapter 7 (images are encoded live)."""
    matching_groups: int | None = 400
    """Groups sampled from each text matching benchmark (``None``: all of them)."""


PROFILES: dict[str, Profile] = {
    "ci": Profile(
        name="ci",
        max_epochs=5,
        datasets=("amazon-baby", "amazon-sports", "amazon-clothing"),
        matching_products=120,
        matching_groups=400,
    ),
    "full": Profile(
        name="full",
        max_epochs=1000,
        datasets=("amazon-baby", "amazon-sports", "amazon-clothing"),
        matching_products=600,
        matching_groups=None,
    ),
}


def profile(name: str | None = None) -> Profile:
    """Return the active :class:`Profile` (``name``, else ``$MMRS_PROFILE``, else ``ci``)."""
    key = name or os.environ.get(PROFILE_ENV, "ci")
    if key not in PROFILES:
        raise ValueError(
            f"Unknown profile {key!r} (from {PROFILE_ENV} or the argument); "
            f"choose one of {sorted(PROFILES)}."
        )
    return PROFILES[key]
