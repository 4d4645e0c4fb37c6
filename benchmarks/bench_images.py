"""Throughput of the photo features (EfficientNet-Lite0), before and after the faster pipeline.

    python benchmarks/bench_images.py [--n 512] [--threads 1 2] [--batch-size 8] [--old-batch-size 64] \
        [--sizes 128x96 160x120] [--classify 128] [--out benchmarks/results/images.json]

1. **Images/s.** The first ``--n`` catalogue photos, read from ``images.zip`` and encoded at
   224×224, no cache, at each ``--threads`` torch threads: ``before`` is a verbatim copy of the
   old code path (photos decoded into a list first, then per-image PIL convert + resize, float
   conversion and normalisation per image, NCHW weights, batches of 64, ``torch.no_grad``:
   :func:`old_image_embeddings` below), ``after`` is :func:`mmrs.features.image.image_embeddings` on a lazy sequence of the
   same photos. Also: the largest difference of the two feature sets, and the projected time of
   the whole catalogue (44,441 photos) at each rate.
2. **Smaller inputs.** For each of ``--sizes`` (``HxW`` or ``S``; the photos are 60 wide and 80
   high), images/s of the new pipeline at the fastest of the thread counts, and how close its features
   stay to the default 224×224 ones on the same photos: the mean (and 5th percentile) cosine of
   the two features of each photo; the articleType leave-one-out 10-NN precision (the share of
   each photo's 10 most cosine-similar other photos that share its articleType) at both sizes,
   a cheap stand-in for the Chapter 6 retrieval metrics; and, on the first ``--classify``
   photos, how often the top-1 ImageNet class of :func:`mmrs.features.image.classify` agrees
   with the one at 224×224.

Writes a benchmark record (``mmrs.records``) only with ``--out``. Needs ``MMRS_DATA`` with
``fashion-small`` and the image encoder packages.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mmrs import records
from mmrs.features import image as im

CATALOGUE_PHOTOS = 44_441


# -- the old code path (src/mmrs/features/image.py before the change), kept for comparison ---
def old_preprocess(images: Sequence[Image.Image], size: int = 224) -> torch.Tensor:
    arrays = []
    for k, img in enumerate(images):
        if not isinstance(img, Image.Image):
            raise TypeError(f"images must be PIL images; item {k} is {type(img).__name__}")
        rgb = img.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
        arrays.append(np.asarray(rgb, dtype=np.float32) / 255.0)
    batch = (np.stack(arrays) - np.asarray(im.INPUT_MEAN, np.float32)) / np.asarray(
        im.INPUT_STD, np.float32
    )
    return torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))


def old_image_embeddings(images: Sequence[Image.Image], batch_size: int = 64) -> np.ndarray:
    n = len(images)
    out = np.zeros((n, im.IMAGE_DIM), dtype=np.float32)
    model = im.load_image_model("cpu").to(memory_format=torch.contiguous_format)  # as it was
    with torch.no_grad():
        for start in range(0, n, batch_size):
            batch = old_preprocess([images[i] for i in range(start, min(start + batch_size, n))])
            out[start : start + len(batch)] = model.forward_head(
                model.forward_features(batch), pre_logits=True
            ).numpy()
    model.to(memory_format=torch.channels_last)  # as the new code loads it
    return out


# -- helpers -------------------------------------------------------------------------------
class LazyPhotos(Sequence):
    """Catalogue photos decoded when indexed (as the experiments' chunks could pass them)."""

    def __init__(self, catalogue, ids: list[int]) -> None:
        self.catalogue, self.ids = catalogue, ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, k):  # type: ignore[override]
        return self.catalogue.image(self.ids[k])


def parse_size(text: str) -> tuple[int, int]:
    h, _, w = text.lower().partition("x")
    return (int(h), int(w or h))


def normalised(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)


def knn_precision(features: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    """Mean share of each item's ``k`` nearest other items (cosine) with the same label."""
    f = normalised(features)
    sim = f @ f.T
    np.fill_diagonal(sim, -np.inf)
    nearest = np.argpartition(-sim, k, axis=1)[:, :k]
    return float((labels[nearest] == labels[:, None]).mean())


def timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def rate(n: int, seconds: float) -> dict:
    return {"seconds": round(seconds, 2), "images_per_s": round(n / seconds, 2),
            "projected_catalogue_minutes": round(CATALOGUE_PHOTOS / (n / seconds) / 60, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=im.BATCH_SIZE, help="after")
    parser.add_argument("--old-batch-size", type=int, default=64, help="before (the old default)")
    parser.add_argument("--sizes", nargs="*", default=["128x96", "160x120"])
    parser.add_argument("--classify", type=int, default=128)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from mmrs.data import load_fashion

    catalogue = load_fashion()
    ids = catalogue.image_ids()[: args.n]
    n = len(ids)
    labels = catalogue.products.loc[ids, "articleType"].to_numpy()
    photos = LazyPhotos(catalogue, ids)
    im.load_image_model("cpu")
    warm = [catalogue.image(i) for i in ids[:8]]
    result: dict = {"benchmark": "image_features", "batch_size": args.batch_size,
                    "old_batch_size": args.old_batch_size, "photos": n,
                    "settings": {"input": "224x224", "photo_px": "60x80 (w x h)",
                                 "device": "cpu"},
                    "throughput": {}, "smaller_inputs": {}}
    before_threads = torch.get_num_threads()
    reference = None
    for threads in args.threads:
        torch.set_num_threads(threads)
        old_image_embeddings(warm, args.old_batch_size)
        im.image_embeddings(warm, args.batch_size, progress=False, device="cpu")
        old, t_old = timed(lambda: old_image_embeddings(
            [catalogue.image(i) for i in ids], args.old_batch_size))
        new, t_new = timed(lambda: im.image_embeddings(
            photos, args.batch_size, progress=False, device="cpu"))
        reference = new
        diff = float(np.abs(old - new).max())
        result["throughput"][f"{threads}_threads"] = {
            "before": rate(n, t_old), "after": rate(n, t_new),
            "speedup": round(t_old / t_new, 2),
            "max_abs_feature_difference": diff,
            "max_rel_feature_difference": diff / float(np.abs(old).max()),
        }
        print(threads, json.dumps(result["throughput"][f"{threads}_threads"]), flush=True)
    best = max(args.threads, key=lambda t: result["throughput"][f"{t}_threads"]["after"]["images_per_s"])
    torch.set_num_threads(best)  # the smaller sizes run at the fastest thread count measured
    sample = [catalogue.image(i) for i in ids[: args.classify]]
    top1_ref = [c[0][0] for c in im.classify(sample, top=1, device="cpu")]
    result["smaller_inputs"]["224x224"] = {
        "articleType_10nn_precision": round(knn_precision(reference, labels), 4)}
    for text in args.sizes:
        size = parse_size(text)
        im.image_embeddings(warm, args.batch_size, progress=False, device="cpu", size=size)
        feats, seconds = timed(lambda size=size: im.image_embeddings(
            photos, args.batch_size, progress=False, device="cpu", size=size))
        cos = (normalised(feats) * normalised(reference)).sum(axis=1)
        top1 = [c[0][0] for c in im.classify(sample, top=1, device="cpu", size=size)]
        result["smaller_inputs"][f"{size[0]}x{size[1]}"] = {
            **rate(n, seconds), "torch_threads": torch.get_num_threads(),
            "mean_cosine_to_224": round(float(cos.mean()), 4),
            "p5_cosine_to_224": round(float(np.percentile(cos, 5)), 4),
            "articleType_10nn_precision": round(knn_precision(feats, labels), 4),
            "imagenet_top1_agreement_with_224": round(
                float(np.mean([a == b for a, b in zip(top1, top1_ref, strict=True)])), 4),
            "classified": len(sample),
        }
        print(text, json.dumps(result["smaller_inputs"][f"{size[0]}x{size[1]}"]), flush=True)
    torch.set_num_threads(before_threads)
    result["torch_threads"] = args.threads
    if args.out is not None:
        records.save(records.benchmark_record(result, "fashion-small"), args.out)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
