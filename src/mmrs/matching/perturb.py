"""Seeded, realistic perturbations that turn one catalogue product into several "listings".

Sellers re-photograph, crop and re-compress the same product photo, and retype its title in
their own words. Each perturbation below is drawn from a ``numpy.random.Generator`` and
recorded, so a listing can be regenerated exactly from its seed.

Image (applied in this order, output at the input's size):

* random crop keeping 75–100 % of the width and of the height, at a random position, resized
  back (bicubic);
* horizontal flip with probability 0.5;
* colour jitter: brightness, contrast and saturation each multiplied by a factor in [0.8, 1.2];
* JPEG re-encoding at a quality drawn from 30–90.

Title (each with its probability, in this order):

* abbreviations (p = 0.5): each word with a common shop abbreviation is replaced with
  probability 0.5 (``Men's → Mens``, ``T-shirt → Tee``, ``Black → Blk``, ...);
* typo (p = 0.3): one word of ≥ 4 letters gets one of: two adjacent letters swapped, a letter
  dropped, a letter doubled;
* word-order shuffle (p = 0.3): the words are permuted;
* promotional phrase (p = 0.5): one of :data:`PROMOS` is put before or after the title.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageEnhance

ABBREVIATIONS = {
    "men's": "Mens",
    "men": "Mens",
    "women's": "Womens",
    "women": "Wmns",
    "unisex": "Uni",
    "t-shirt": "Tee",
    "tshirt": "Tee",
    "black": "Blk",
    "white": "Wht",
    "blue": "Blu",
    "grey": "Gry",
    "navy": "Nvy",
    "green": "Grn",
    "brown": "Brn",
    "shoes": "Shoe",
    "sports": "Sport",
    "casual": "Csl",
    "watch": "Wtch",
    "sunglasses": "Sunnies",
    "jeans": "Denim",
    "and": "&",
    "with": "w/",
    "pack": "Pk",
    "printed": "Prntd",
    "kurta": "Kurti",
}
PROMOS = (
    "Sale!",
    "Best Price",
    "Free Shipping",
    "100% Original",
    "New Arrival",
    "Limited Stock",
    "COD Available",
    "[HOT]",
    "Hot Deal",
    "Ready Stock",
)
CROP_MIN = 0.75
JITTER = 0.2
JPEG_QUALITY = (30, 90)


def perturb_image(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, dict]:
    """A re-photographed copy of ``image`` and the parameters drawn (see the module docstring)."""
    img = image.convert("RGB")
    w, h = img.size
    cw, ch = (max(1, int(round(s * rng.uniform(CROP_MIN, 1.0)))) for s in (w, h))
    left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    img = img.crop((left, top, left + cw, top + ch)).resize((w, h), Image.Resampling.BICUBIC)
    flip = bool(rng.random() < 0.5)
    if flip:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    factors = rng.uniform(1 - JITTER, 1 + JITTER, size=3)
    for enhancer, f in zip(
        (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color), factors, strict=True
    ):
        img = enhancer(img).enhance(float(f))
    quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as reread:
        out = reread.convert("RGB")
    params = {
        "crop": [left, top, cw, ch],
        "flip": flip,
        "brightness": round(float(factors[0]), 3),
        "contrast": round(float(factors[1]), 3),
        "saturation": round(float(factors[2]), 3),
        "jpeg_quality": quality,
    }
    return out, params


def _typo(word: str, rng: np.random.Generator) -> str:
    pos = int(rng.integers(0, len(word) - 1))
    kind = int(rng.integers(0, 3))
    if kind == 0:  # swap two adjacent letters
        return word[:pos] + word[pos + 1] + word[pos] + word[pos + 2 :]
    if kind == 1:  # drop a letter
        return word[:pos] + word[pos + 1 :]
    return word[: pos + 1] + word[pos] + word[pos + 1 :]  # double a letter


def perturb_title(title: str, rng: np.random.Generator) -> tuple[str, list[str]]:
    """A seller's retyping of ``title`` and the list of perturbations applied."""
    words = title.split()
    applied: list[str] = []
    if not words:
        return title, applied
    if rng.random() < 0.5:
        new = [
            ABBREVIATIONS[w.lower()] if w.lower() in ABBREVIATIONS and rng.random() < 0.5 else w
            for w in words
        ]
        if new != words:
            applied.append("abbreviation")
        words = new
    if rng.random() < 0.3:
        long_words = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
        if long_words:
            i = long_words[int(rng.integers(0, len(long_words)))]
            words[i] = _typo(words[i], rng)
            applied.append("typo")
    if rng.random() < 0.3 and len(words) > 1:
        words = [words[i] for i in rng.permutation(len(words))]
        applied.append("shuffle")
    if rng.random() < 0.5:
        promo = PROMOS[int(rng.integers(0, len(PROMOS)))]
        words = [promo, *words] if rng.random() < 0.5 else [*words, promo]
        applied.append("promo")
    return " ".join(words), applied
