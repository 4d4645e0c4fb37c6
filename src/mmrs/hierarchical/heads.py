"""Stage 2: category-specialised projection heads.

For every category ``c`` with at least ``min_items`` training products, a copy of the shared
(flat) towers is fine-tuned with the CLIP loss on that category's pairs only, so every negative
in a batch is a *same-category* product: the head spends its capacity on telling Tshirts from
Tshirts, not Tshirts from Watches ("semantic disambiguation" in the paper's words). Smaller
categories fall back to the shared heads (too few pairs to fine-tune without over-fitting).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..retrieval.towers import LockedTowers
from ..retrieval.train import train_towers

SPECIALISE_LR = 3e-4
"""Learning rate of stage-2 fine-tuning (and of the ``flat+`` control)."""


def specialise_heads(
    shared: LockedTowers,
    image: np.ndarray,
    text: np.ndarray,
    codes: np.ndarray,
    *,
    min_items: int,
    epochs: int,
    seed: int,
    batch_size: int = 128,
    lr: float = SPECIALISE_LR,
    progress: bool = True,
    device: Any = None,
) -> dict[int, LockedTowers]:
    """``{category code: fine-tuned copy of shared}`` for categories with ``≥ min_items`` pairs,
    trained on ``device`` (:func:`~mmrs.retrieval.train.train_towers`)."""
    counts = np.bincount(codes)
    big = [int(c) for c in np.flatnonzero(counts >= min_items)]
    heads: dict[int, LockedTowers] = {}
    for c in tqdm(big, desc="stage-2 heads", disable=not progress):
        rows = codes == c
        heads[c], _ = train_towers(
            image[rows], text[rows], epochs=epochs, seed=seed + c, batch_size=batch_size,
            lr=lr, model=shared.copy(), progress=False, device=device,
        )
    return heads
