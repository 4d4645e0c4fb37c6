"""Pretrained feature extraction that works offline, with an on-disk cache.

:mod:`~mmrs.features.text`  all-MiniLM-L6-v2 sentence embeddings (384-d), the encoder MMRec used.
:mod:`~mmrs.features.image` EfficientNet-Lite0 ImageNet features (1280-d) and ImageNet labels.
:mod:`~mmrs.features.cache` ``.npy`` cache keyed by (encoder, dataset, ids), resumable in
chunks, and a writer for MMRec's ``image_feat.npy`` / ``text_feat.npy``.

The model modules import torch, sentence-transformers and timm lazily, so importing
:mod:`mmrs.features` is cheap.
"""

from .cache import (
    atomic_save,
    cache_dir,
    cache_path,
    cached_features,
    ids_hash,
    write_mmrec_features,
)
from .image import (
    IMAGE_DIM,
    IMAGE_ENCODER,
    IMAGE_SIZE,
    classify,
    image_embeddings,
    load_image_model,
    load_state_dict_by_position,
)
from .text import TEXT_DIM, TEXT_ENCODER, load_text_model, text_embeddings

__all__ = [
    "IMAGE_DIM",
    "IMAGE_ENCODER",
    "IMAGE_SIZE",
    "TEXT_DIM",
    "TEXT_ENCODER",
    "atomic_save",
    "cache_dir",
    "cache_path",
    "cached_features",
    "classify",
    "ids_hash",
    "image_embeddings",
    "load_image_model",
    "load_state_dict_by_position",
    "load_text_model",
    "text_embeddings",
    "write_mmrec_features",
]
