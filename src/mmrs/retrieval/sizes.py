"""Sizes of Chapter 6's experiments, keyed by profile name (``ci`` / ``full``).

Kept in one dataclass until :class:`mmrs.config.Profile` grows the matching fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import profile


@dataclass(frozen=True)
class RetrievalSizes:
    """Every size knob of the retrieval / hierarchical experiments."""

    name: str
    n_products: int
    """Products drawn from the catalogue (stratified by articleType); photos are encoded for all."""
    epochs: int
    """Epochs of contrastive training of the shared (flat) projection heads."""
    specialise_epochs: int
    """Epochs of per-category fine-tuning of the stage-2 heads."""
    min_specialise: int
    """A category gets its own stage-2 heads only with at least this many training products."""
    router_epochs: int
    """Epochs of the stage-1 softmax classifier."""
    batch_size: int = 128
    dim: int = 256
    hidden: int = 512
    lr: float = 1e-3
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)
    ks: tuple[int, ...] = (5, 10, 20)
    soft_m: int = 3


SIZES: dict[str, RetrievalSizes] = {
    "ci": RetrievalSizes(
        name="ci", n_products=700, epochs=30, specialise_epochs=15, min_specialise=30,
        router_epochs=100,
    ),
    "full": RetrievalSizes(
        name="full", n_products=6000, epochs=40, specialise_epochs=20, min_specialise=80,
        router_epochs=150,
    ),
}


def sizes(name: str | None = None) -> RetrievalSizes:
    """The :class:`RetrievalSizes` of profile ``name`` (default: :func:`mmrs.config.profile`)."""
    key = profile(name).name
    if key not in SIZES:
        raise ValueError(f"no retrieval sizes for profile {key!r}; known: {sorted(SIZES)}")
    return SIZES[key]
