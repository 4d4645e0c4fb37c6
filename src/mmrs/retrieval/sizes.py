"""Sizes of Chapter 6's experiments: :attr:`mmrs.config.Profile.retrieval` of the active profile.

The sizes themselves live in :mod:`mmrs.config` (the one size knob); this module keeps the
short names the chapter uses.
"""

from __future__ import annotations

from ..config import RETRIEVAL_SIZES as SIZES
from ..config import RetrievalSizes, profile

__all__ = ["SIZES", "RetrievalSizes", "sizes"]


def sizes(name: str | None = None) -> RetrievalSizes:
    """The :class:`RetrievalSizes` named ``name`` (``ci``, ``full``, ``catalogue``) or of the
    profile ``name`` (default: :func:`mmrs.config.profile`)."""
    if name in SIZES:
        return SIZES[name]
    return profile(name).retrieval
