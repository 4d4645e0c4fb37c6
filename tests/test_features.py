"""Tests of mmrs.features: real offline models (loaded once per session), cache, MMRec writer."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import IMAGE_ENCODER, TEXT_ENCODER, needs
from PIL import Image

from mmrs.data import available
from mmrs.features import (
    IMAGE_DIM,
    TEXT_DIM,
    atomic_save,
    cache_dir,
    cache_path,
    cached_features,
    classify,
    ids_hash,
    image_embeddings,
    load_state_dict_by_position,
    text_embeddings,
    write_mmrec_features,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")


# -- text ----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def sentences() -> list[str]:
    return [
        "A man is playing a guitar.",
        "Someone plays the guitar.",
        "The stock market fell sharply today.",
        "Nike men's black running shoes",
        "Black running shoe for men by Nike",
    ]


@pytest.fixture(scope="session")
def text_vectors(sentences) -> np.ndarray:
    return text_embeddings(sentences, batch_size=2, progress=False)


@needs(*TEXT_ENCODER)
def test_text_shape_and_unit_norm(text_vectors):
    assert text_vectors.shape == (5, TEXT_DIM) and text_vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(text_vectors, axis=1), 1.0, rtol=1e-5)


@needs(*TEXT_ENCODER)
def test_text_deterministic(sentences, text_vectors):
    again = text_embeddings(sentences, batch_size=2, progress=False)
    np.testing.assert_array_equal(again, text_vectors)


@needs(*TEXT_ENCODER)
def test_paraphrases_are_closer_than_unrelated(text_vectors):
    sim = text_vectors @ text_vectors.T
    assert sim[0, 1] > sim[0, 2] + 0.3
    assert sim[3, 4] > sim[3, 2] + 0.3
    assert sim[0, 1] > 0.6


def test_text_rejects_non_strings():
    with pytest.raises(TypeError):
        text_embeddings(["ok", None], progress=False)  # type: ignore[list-item]
    assert text_embeddings([], progress=False).shape == (0, TEXT_DIM)


# -- image ---------------------------------------------------------------------------------
def _synthetic_images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [
        Image.fromarray(rng.integers(0, 256, size=(80, 60, 3), dtype=np.uint8)) for _ in range(3)
    ]


@needs(*IMAGE_ENCODER)
def test_image_shape_and_determinism():
    images = _synthetic_images()
    first = image_embeddings(images, batch_size=2, progress=False)
    assert first.shape == (3, IMAGE_DIM) and first.dtype == np.float32
    assert np.isfinite(first).all() and (first >= 0).all()  # pooled after an activation
    np.testing.assert_array_equal(first, image_embeddings(images, batch_size=2, progress=False))
    assert image_embeddings([], progress=False).shape == (0, IMAGE_DIM)
    with pytest.raises(TypeError):
        image_embeddings([np.zeros((4, 4, 3))], progress=False)


def _reference_preprocess(images, size=224):
    """The per-image preprocessing the batched one replaced (verbatim): the features in the
    existing caches were made with it."""
    import torch

    arrays = [
        np.asarray(img.convert("RGB").resize((size, size), Image.Resampling.BICUBIC),
                   dtype=np.float32) / 255.0
        for img in images
    ]
    batch = (np.stack(arrays) - np.float32(0.5)) / np.float32(0.5)
    return torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))


def _reference_features(images, batch_size=64):
    import torch

    from mmrs.features.image import load_image_model

    model, out = load_image_model("cpu"), []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = _reference_preprocess(images[start : start + batch_size])
            out.append(model.forward_head(model.forward_features(batch), pre_logits=True).numpy())
    return np.concatenate(out)


class _Lazy:
    """A lazy sequence of images that records which positions were read."""

    def __init__(self, images):
        self.images, self.read = images, []

    def __len__(self):
        return len(self.images)

    def __getitem__(self, k):
        self.read.append(k)
        return self.images[k]


def _mixed_images() -> list[Image.Image]:
    """Photo-sized random images in several modes (the catalogue's are RGB 60x80)."""
    rng = np.random.default_rng(1)
    rgb = [Image.fromarray(rng.integers(0, 256, size=(80, 60, 3), dtype=np.uint8))
           for _ in range(5)]
    return [*rgb, rgb[0].convert("L"), rgb[1].convert("RGBA"), rgb[2].resize((37, 51))]


def test_batched_preprocess_is_bit_identical_to_the_per_image_one():
    import torch

    from mmrs.features.image import preprocess

    images = _mixed_images()
    new = preprocess(images)
    assert new.shape == (len(images), 3, 224, 224) and new.is_contiguous()
    assert torch.equal(new, _reference_preprocess(images))
    assert preprocess(images, size=(128, 96)).shape == (len(images), 3, 128, 96)
    with pytest.raises(TypeError, match="item 1"):
        preprocess([images[0], "photo"])  # type: ignore[list-item]
    for bad in (0, (96, 0), (96, -1)):
        with pytest.raises(ValueError, match="size"):
            preprocess(images, size=bad)


def test_image_encoder_name_keeps_the_default_cache_key():
    from mmrs.features.image import IMAGE_ENCODER, image_encoder_name

    assert image_encoder_name() == image_encoder_name(224) == IMAGE_ENCODER
    assert image_encoder_name((224, 224)) == IMAGE_ENCODER
    assert image_encoder_name((128, 96)) == f"{IMAGE_ENCODER}-128x96"
    assert image_encoder_name(160) == f"{IMAGE_ENCODER}-160x160"


@needs(*IMAGE_ENCODER)
def test_image_features_equal_the_per_image_pipeline():
    images = _mixed_images()
    reference = _reference_features(images, batch_size=3)
    lazy = _Lazy(images)
    new = image_embeddings(lazy, batch_size=3, progress=False)
    np.testing.assert_allclose(new, reference, rtol=1e-5, atol=1e-5)
    assert sorted(lazy.read) == list(range(len(images)))  # each photo decoded exactly once


@needs(*IMAGE_ENCODER)
def test_image_features_do_not_depend_on_the_batch_size():
    images = _mixed_images()
    whole = image_embeddings(images, batch_size=64, progress=False)
    for batch_size in (1, 3, 7):
        np.testing.assert_allclose(
            image_embeddings(images, batch_size=batch_size, progress=False), whole,
            rtol=1e-5, atol=1e-5,
        )


@needs(*IMAGE_ENCODER)
def test_image_size_and_threads_parameters():
    import torch

    images = _mixed_images()[:3]
    before = torch.get_num_threads()
    small = image_embeddings(images, progress=False, size=(128, 96), threads=1)
    assert torch.get_num_threads() == before  # restored
    assert small.shape == (3, IMAGE_DIM) and np.isfinite(small).all()
    assert not np.allclose(small, image_embeddings(images, progress=False))
    assert len(classify(images, top=2, size=(128, 96))) == 3
    assert classify([], top=2) == []
    with pytest.raises(ValueError, match="threads"):
        image_embeddings(images, progress=False, threads=0)
    with pytest.raises(ValueError, match="size"):
        image_embeddings(images, progress=False, size=0)
    with pytest.raises(TypeError, match="item 1"):  # raised in the reading thread, seen here
        image_embeddings(_Lazy([images[0], None]), batch_size=1, progress=False)


@needs(*IMAGE_ENCODER)
def test_image_features_resume_after_an_interruption(tmp_path):
    images = _mixed_images()
    ids = list(range(len(images)))
    whole = image_embeddings(images, progress=False)
    calls: list = []

    def compute(chunk):
        calls.append(list(chunk))
        if 4 in chunk:
            raise KeyboardInterrupt("interrupted")
        return image_embeddings([images[i] for i in chunk], batch_size=2, progress=False)

    with pytest.raises(KeyboardInterrupt):
        cached_features("img", "ds", ids, compute, chunk_size=3, root=tmp_path, progress=False)
    calls.clear()

    def resume(chunk):
        calls.append(list(chunk))
        return image_embeddings([images[i] for i in chunk], batch_size=5, progress=False)

    done = cached_features("img", "ds", ids, resume, chunk_size=3, root=tmp_path, progress=False)
    assert calls == [[3, 4, 5], [6, 7]]  # the finished chunk was read back, not recomputed
    np.testing.assert_allclose(done, whole, rtol=1e-5, atol=1e-5)
    again = cached_features("img", "ds", ids, resume, chunk_size=3, root=tmp_path, progress=False)
    np.testing.assert_array_equal(again, done)
    assert calls == [[3, 4, 5], [6, 7]]  # the full array is cached


@needs(*IMAGE_ENCODER)
def test_real_photos_match_the_per_image_pipeline(catalogue):
    photos = [catalogue.image(i) for i in catalogue.image_ids()[:6]]
    np.testing.assert_allclose(
        image_embeddings(photos, batch_size=4, progress=False),
        _reference_features(photos, batch_size=4), rtol=1e-5, atol=1e-5,
    )


# Products checked by hand: id → article type and the ImageNet classes
# that count as plausible for it. Each photo's top-5 must contain one of them.
PLAUSIBLE = {
    59263: ("Watches", {"analog clock", "digital watch", "stopwatch", "wall clock"}),
    30039: ("Watches", {"analog clock", "digital watch", "stopwatch", "wall clock"}),
    16957: ("Sunglasses", {"sunglass", "sunglasses"}),
    3168: ("Sports Shoes", {"running shoe"}),
}


@pytest.fixture(scope="session")
def catalogue():
    if not available("fashion-small"):
        pytest.skip("dataset 'fashion-small' not available under MMRS_DATA")
    from mmrs.data import load_fashion

    return load_fashion()


@needs(*IMAGE_ENCODER)
def test_classify_real_photos(catalogue):
    ids = list(PLAUSIBLE)
    assert [catalogue.products.at[i, "articleType"] for i in ids] == [
        v[0] for v in PLAUSIBLE.values()
    ]
    top5 = classify([catalogue.image(i) for i in ids], top=5)
    for pid, classes in zip(ids, top5, strict=True):
        names = {label.split(",")[0].strip() for label, _ in classes}
        assert names & PLAUSIBLE[pid][1], f"{pid}: {names}"
        probs = [p for _, p in classes]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6


def test_state_dict_by_position():
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    source = {
        f"w{k}": torch.full_like(v, float(k)) for k, v in enumerate(model.state_dict().values())
    }
    pairs = load_state_dict_by_position(model, source)
    assert pairs == [("w0", "0.weight"), ("w1", "0.bias"), ("w2", "1.weight"), ("w3", "1.bias")]
    assert float(model[1].weight.detach().sum()) == pytest.approx(2.0 * 3)
    bad = dict(source)
    bad["w2"] = torch.zeros(3, 1)
    with pytest.raises(ValueError, match="shape mismatch at position 2"):
        load_state_dict_by_position(model, bad)
    with pytest.raises(ValueError, match="3 tensors"):
        load_state_dict_by_position(model, dict(list(source.items())[:3]))


# -- cache ---------------------------------------------------------------------------------
def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MMRS_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("MMRS_CACHE")
    assert cache_dir().parts[-2:] == ("data", "cache")  # the checkout's git-ignored folder


def test_cache_key_depends_on_ids_and_order(tmp_path):
    assert ids_hash([1, 2, 3]) != ids_hash([3, 2, 1])
    p = cache_path("enc", "ds", [1, 2], tmp_path)
    assert p.parent == tmp_path / "enc" / "ds" and p.suffix == ".npy"
    with pytest.raises(ValueError):
        cache_path("../evil", "ds", [1], tmp_path)


def test_cache_round_trip(tmp_path):
    calls = []

    def compute(ids):
        calls.append(list(ids))
        return np.asarray(ids, dtype=np.float32)[:, None] * 2

    first = cached_features("enc", "ds", [1, 2, 3], compute, root=tmp_path, progress=False)
    second = cached_features("enc", "ds", [1, 2, 3], compute, root=tmp_path, progress=False)
    np.testing.assert_array_equal(first, [[2], [4], [6]])
    np.testing.assert_array_equal(second, first)
    assert calls == [[1, 2, 3]]  # the second call read the cache


def test_cache_resumes_after_an_interruption(tmp_path):
    calls = []

    def failing(ids):
        calls.append(list(ids))
        if 5 in ids:
            raise KeyboardInterrupt("interrupted")
        return np.asarray(ids, dtype=np.float32)[:, None]

    ids = list(range(7))
    with pytest.raises(KeyboardInterrupt):
        cached_features("enc", "ds", ids, failing, chunk_size=2, root=tmp_path, progress=False)
    assert calls == [[0, 1], [2, 3], [4, 5]]
    calls.clear()
    done = cached_features(
        "enc", "ds", ids, lambda c: _record(calls, c), chunk_size=2, root=tmp_path, progress=False
    )
    assert calls == [[4, 5], [6]]  # finished chunks were not recomputed
    np.testing.assert_array_equal(done[:, 0], ids)
    assert sorted(p.name for p in (tmp_path / "enc" / "ds").iterdir()) == [f"{ids_hash(ids)}.npy"]


def _record(calls: list, chunk) -> np.ndarray:
    calls.append(list(chunk))
    return np.asarray(chunk, dtype=np.float32)[:, None]


def _interrupt_at(bad_id, calls: list):
    def compute(chunk):
        calls.append(list(chunk))
        if bad_id in chunk:
            raise KeyboardInterrupt("interrupted")
        return np.asarray(chunk, dtype=np.float32)[:, None]

    return compute


def test_cache_resume_with_another_chunk_size(tmp_path):
    # regression: parts keyed only by index were reused for other chunk sizes (11 rows for 10 ids)
    ids = list(range(10))
    calls: list = []
    with pytest.raises(KeyboardInterrupt):
        cached_features(
            "enc", "ds", ids, _interrupt_at(5, calls), chunk_size=4, root=tmp_path, progress=False
        )
    assert calls == [[0, 1, 2, 3], [4, 5, 6, 7]]  # one part (ids 0-3) is on disk
    calls.clear()
    done = cached_features(
        "enc", "ds", ids, lambda c: _record(calls, c), chunk_size=3, root=tmp_path, progress=False
    )
    assert done.shape == (10, 1)
    np.testing.assert_array_equal(done[:, 0], ids)  # equal to an uninterrupted run
    assert calls == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]  # the size-4 part is not reused
    assert sorted(p.name for p in (tmp_path / "enc" / "ds").iterdir()) == [f"{ids_hash(ids)}.npy"]
    # a part whose ids match exactly is reused whatever chunk size wrote it
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        cached_features(
            "enc", "ds2", ids, _interrupt_at(9, calls), chunk_size=3, root=tmp_path, progress=False
        )
    calls.clear()
    again = cached_features(
        "enc", "ds2", ids, lambda c: _record(calls, c), chunk_size=3, root=tmp_path, progress=False
    )
    assert calls == [[9]]
    np.testing.assert_array_equal(again, done)


@pytest.mark.parametrize("damage", ["truncated", "wrong_rows", "garbage"])
def test_cache_recomputes_a_damaged_part(tmp_path, damage):
    ids = list(range(7))
    calls: list = []
    with pytest.raises(KeyboardInterrupt):
        cached_features(
            "enc", "ds", ids, _interrupt_at(4, calls), chunk_size=2, root=tmp_path, progress=False
        )
    folder = tmp_path / "enc" / "ds"
    parts = sorted(p for p in folder.iterdir() if p.name != f"{ids_hash(ids)}.npy")
    assert len(parts) == 2  # ids 0-1 and 2-3
    if damage == "truncated":
        parts[1].write_bytes(parts[1].read_bytes()[:-3])
    elif damage == "wrong_rows":
        np.save(parts[1], np.zeros((1, 1), dtype=np.float32))
    else:
        parts[1].write_bytes(b"not a numpy file")
    calls.clear()
    done = cached_features(
        "enc", "ds", ids, lambda c: _record(calls, c), chunk_size=2, root=tmp_path, progress=False
    )
    assert calls == [[2, 3], [4, 5], [6]]  # the damaged part was recomputed, the good one kept
    np.testing.assert_array_equal(done[:, 0], ids)
    assert sorted(p.name for p in folder.iterdir()) == [f"{ids_hash(ids)}.npy"]


def test_cache_recomputes_a_damaged_final_file(tmp_path):
    calls: list = []
    ids = [1, 2, 3]
    path = cache_path("enc", "ds", ids, tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x93NUMPY truncated")
    done = cached_features(
        "enc", "ds", ids, lambda c: _record(calls, c), root=tmp_path, progress=False
    )
    assert calls == [[1, 2, 3]]
    np.testing.assert_array_equal(np.load(path), done)


def test_atomic_save_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "x.npy"
    atomic_save(target, np.arange(3))

    def broken_save(handle, array, allow_pickle=False):
        handle.write(b"\x93NUMPY partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_save(target, np.arange(5))
    with pytest.raises(OSError):
        atomic_save(tmp_path / "new.npy", np.arange(5))
    monkeypatch.undo()
    np.testing.assert_array_equal(np.load(target), np.arange(3))  # old content intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]  # no temp, no new.npy


def test_write_mmrec_features(tmp_path):
    image, text = np.ones((4, 6)), np.zeros((4, 3))
    paths = write_mmrec_features(tmp_path, image_feat=image, text_feat=text)
    assert set(paths) == {"image_feat.npy", "text_feat.npy"}
    back = np.load(Path(tmp_path) / "image_feat.npy")
    assert back.dtype == np.float32 and back.shape == (4, 6)
    with pytest.raises(ValueError, match="row counts"):
        write_mmrec_features(tmp_path, image_feat=image, text_feat=np.zeros((3, 3)))
    with pytest.raises(ValueError):
        write_mmrec_features(tmp_path)
    with pytest.raises(ValueError):
        write_mmrec_features(tmp_path, text_feat=np.full((2, 2), np.nan))
