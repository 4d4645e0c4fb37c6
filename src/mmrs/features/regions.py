"""Image *regions*: the spatial grid of EfficientNet-Lite0's last feature map, for attention.

:func:`~mmrs.features.image.image_embeddings` averages the last 1×1 convolution's output
``φ(x) ∈ R^{1280×7×7}`` (224×224 input) over all positions. A transformer that attends over a
photo needs the positions instead: here ``φ(x)`` is average-pooled to a ``g×g`` grid (adaptive
pooling, ``g = 3`` by default: 9 regions of 1280 channels)::

    r_{ab}(x) = mean_{(h, w) ∈ cell(a, b)} φ(x)_{:, h, w},   a, b = 1..g

so that the mean of the regions is close to the pooled feature (equal when the cells tile the
map evenly). Same network, weights, preprocessing and batching as :mod:`mmrs.features.image`;
cached per list of product ids with :func:`mmrs.features.cache.cached_features` (the file
stores ``[n, g·g·1280]``; :func:`region_features` reshapes it to ``[n, g·g, 1280]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing

import numpy as np
from PIL import Image

from .cache import cached_features
from .image import (
    BATCH_SIZE,
    IMAGE_DIM,
    IMAGE_ENCODER,
    IMAGE_SIZE,
    _batches,
    _prefetched,
    load_image_model,
)

GRID = 3


def region_embeddings(
    images: Sequence[Image.Image], grid: int = GRID, batch_size: int = BATCH_SIZE,
    progress: bool = False, device: str | None = None,
) -> np.ndarray:
    """``[len(images), grid·grid, 1280]`` float32 region features ``r_{ab}`` (module docstring),
    regions in row-major order (top-left first)."""
    import torch
    import torch.nn.functional as F

    if grid < 1:
        raise ValueError(f"grid must be >= 1, got {grid}")
    n = len(images)
    out = np.zeros((n, grid * grid, IMAGE_DIM), dtype=np.float32)
    if n == 0:
        return out
    model = load_image_model(device)
    where = next(model.parameters()).device
    starts = _batches(n, batch_size, progress, "image regions")
    with torch.inference_mode(), closing(_prefetched(images, starts, batch_size, IMAGE_SIZE)) as batches:
        for start, batch in batches:
            fmap = F.adaptive_avg_pool2d(model.forward_features(batch.to(where)), grid)
            out[start : start + len(batch)] = fmap.flatten(2).transpose(1, 2).cpu().numpy()
    return out


def region_features(catalogue, product_ids: Sequence[int], grid: int = GRID,
                    progress: bool = False, device: str | None = None) -> np.ndarray:
    """Cached :func:`region_embeddings` of the catalogue photos of ``product_ids``:
    ``[n, grid·grid, 1280]`` float32."""
    ids = [int(i) for i in product_ids]
    flat = cached_features(
        f"{IMAGE_ENCODER}-grid{grid}", "fashion-small", ids,
        lambda k: region_embeddings([catalogue.image(i) for i in k], grid, progress=progress,
                                    device=device).reshape(len(k), -1),
        chunk_size=128, progress=progress,
    )
    return flat.reshape(len(ids), grid * grid, IMAGE_DIM)
