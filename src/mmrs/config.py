"""The one size knob: ``MMRS_PROFILE`` selects how big every expensive step is.

``ci``   small and fast: each chapter executes in a few minutes on 2 CPU cores (the default).
``full`` the papers' settings, used by the replication commands that write ``book/results``.

Chapters and library code read sizes from :func:`profile` and never scatter literals.

The one device knob: ``MMRS_DEVICE`` (or a ``device`` argument / ``--device`` flag) says where
models train and features are extracted: ``cpu`` (the default, with which every recorded number
was made), ``cuda``, ``mps`` or ``auto`` (CUDA, then MPS, else the CPU). :func:`device_name` reads
it without importing torch; :func:`resolve_device` turns it into a ``torch.device``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

PROFILE_ENV = "MMRS_PROFILE"
DEVICE_ENV = "MMRS_DEVICE"
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
"""Accepted device names (:func:`device_name`)."""


@dataclass(frozen=True)
class RetrievalSizes:
    """Every size knob of the retrieval / hierarchical experiments (Chapter 6)."""

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


RETRIEVAL_SIZES: dict[str, RetrievalSizes] = {
    "ci": RetrievalSizes(
        name="ci", n_products=700, epochs=30, specialise_epochs=15, min_specialise=30,
        router_epochs=100,
    ),
    "full": RetrievalSizes(
        name="full", n_products=6000, epochs=40, specialise_epochs=20, min_specialise=80,
        router_epochs=150,
    ),
    # the whole catalogue: every eligible product (a title and a photo), all articleTypes and
    # subCategories; the full profile's training sizes (not a profile: ``--size catalogue``)
    "catalogue": RetrievalSizes(
        name="catalogue", n_products=10**9, epochs=40, specialise_epochs=20, min_specialise=80,
        router_epochs=150,
    ),
}


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
    fashion_sim: str = "ci"
    """Size preset of the simulated fashion users (``mmrs.data.fashion_sim.SIZES``: ci, medium,
    full) used by Chapters 4-5's experiments."""
    epoch_cap: int = 5
    """Epoch cap of the fashion-sim replication runs (early stopping usually ends them sooner)."""
    retrieval: RetrievalSizes = field(default_factory=lambda: RETRIEVAL_SIZES["ci"])
    """Chapter 6's sizes."""


PROFILES: dict[str, Profile] = {
    "ci": Profile(
        name="ci",
        max_epochs=3,
        datasets=("amazon-baby", "amazon-sports", "amazon-clothing"),
        matching_products=120,
        matching_groups=400,
        fashion_sim="ci",
        epoch_cap=3,
        retrieval=RETRIEVAL_SIZES["ci"],
    ),
    "full": Profile(
        name="full",
        max_epochs=1000,
        datasets=("amazon-baby", "amazon-sports", "amazon-clothing"),
        matching_products=600,
        matching_groups=None,
        fashion_sim="full",
        epoch_cap=150,
        retrieval=RETRIEVAL_SIZES["full"],
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


def device_name(name: str | None = None) -> str:
    """The device setting: ``name``, else ``$MMRS_DEVICE``, else ``"cpu"`` (one of :data:`DEVICES`).

    ``"auto"`` must be asked for, so that by default every number is the recorded CPU one. An
    unknown name raises a one-line :class:`ValueError`. Nothing is imported (no torch): use
    :func:`resolve_device` for the ``torch.device``.
    """
    key = name or os.environ.get(DEVICE_ENV) or "cpu"
    if key not in DEVICES:
        raise ValueError(
            f"Unknown device {key!r} (from {DEVICE_ENV} or the argument); "
            f"choose one of {list(DEVICES)}."
        )
    return key


def resolve_device(name: Any = None) -> Any:
    """The ``torch.device`` for :func:`device_name` ``(name)`` (torch is imported here, lazily);
    a ``torch.device`` is returned as it is.

    ``"auto"`` picks CUDA if available, then Apple's MPS, else the CPU. Asking for ``"cuda"`` or
    ``"mps"`` where it is not available raises :class:`RuntimeError`.
    """
    import torch

    if isinstance(name, torch.device):
        return name
    key = device_name(name)
    mps = getattr(torch.backends, "mps", None)
    mps_ok = mps is not None and mps.is_available()
    if key == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_ok else torch.device("cpu")
    if key == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch.cuda.is_available() is False")
    if key == "mps" and not mps_ok:
        raise RuntimeError("device 'mps' requested but torch.backends.mps is not available")
    return torch.device(key)
