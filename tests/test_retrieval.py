"""Tests of mmrs.retrieval: the CLIP loss, towers, split, task metrics (synthetic, fast)."""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import needs

from mmrs.retrieval import (
    TINY_CLIP_CONFIG,
    LockedTowers,
    attribute_truth,
    clip_loss,
    clip_loss_numpy,
    create_openclip_towers,
    retrieval_metrics,
    split_products,
    stratified_sample,
    topk_from_scores,
    train_towers,
)


def _frame(n_per=(30, 20, 10, 1), seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for c, n in enumerate(n_per):
        for _ in range(n):
            rows.append({"articleType": f"t{c}", "gender": rng.choice(["M", "W"]),
                         "baseColour": rng.choice(["Red", "Blue"]), "title": f"item {c}",
                         "has_image": True})
    frame = pd.DataFrame(rows)
    frame.index = np.arange(100, 100 + len(frame))
    return frame


@needs("open_clip")
def test_clip_loss_matches_hand_calculation():
    img = np.array([[1.0, 0.0], [0.0, 1.0]])
    txt = np.array([[1.0, 0.0], [0.6, 0.8]])
    # logits = 2 * [[1, .6], [0, .8]]; by hand: row CE and column CE averaged
    lg = 2 * img @ txt.T
    rows = [np.log(np.exp(lg[i]).sum()) - lg[i, i] for i in range(2)]
    cols = [np.log(np.exp(lg[:, i]).sum()) - lg[i, i] for i in range(2)]
    hand = 0.5 * (np.mean(rows) + np.mean(cols))
    assert clip_loss_numpy(img, txt, 2.0) == pytest.approx(hand, rel=1e-12)
    got = clip_loss(torch.tensor(img), torch.tensor(txt), torch.tensor(2.0))
    assert float(got) == pytest.approx(hand, rel=1e-9)
    closed = 0.25 * sum(np.log1p(np.exp(-d)) for d in (0.8, 1.6, 2.0, 0.4))  # margins by hand
    assert hand == pytest.approx(closed, rel=1e-12)
    assert hand == pytest.approx(0.29874, abs=1e-5)


@needs("open_clip")
def test_clip_loss_random_batch_and_gradient_to_logit_scale():
    rng = np.random.default_rng(1)
    img, txt = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    scale = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    loss = clip_loss(torch.tensor(img), torch.tensor(txt), scale)
    assert float(loss.detach()) == pytest.approx(clip_loss_numpy(img, txt, 3.0), rel=1e-9)
    loss.backward()
    assert scale.grad is not None and torch.isfinite(scale.grad)


@needs("open_clip")
def test_locked_towers_unit_outputs_and_training_reduces_loss():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(64, 8)).astype(np.float32)
    image = np.hstack([z, rng.normal(size=(64, 4))]).astype(np.float32)
    text = (z @ rng.normal(size=(8, 6))).astype(np.float32)
    model = LockedTowers(12, 6, dim=16, hidden=0)
    u, w, s = model(torch.from_numpy(image), torch.from_numpy(text))
    assert torch.allclose(u.norm(dim=1), torch.ones(64), atol=1e-5)
    assert float(s.detach()) == pytest.approx(1 / 0.07, rel=1e-5)
    before = clip_loss(u, w, s).item()
    model, log = train_towers(image, text, epochs=15, seed=0, batch_size=32, dim=16, hidden=32,
                              progress=False, model=model)
    assert log.loss[-1] < before


@needs("open_clip")
def test_openclip_tiny_model_forward_loss_backward():
    from PIL import Image

    model, preprocess, tokenizer = create_openclip_towers(config=TINY_CLIP_CONFIG)
    images = torch.stack([preprocess(Image.new("RGB", (40, 50), c)) for c in ("red", "blue")])
    tokens = tokenizer(["a red shirt", "a blue watch"])
    assert images.shape == (2, 3, 32, 32) and tokens.shape == (2, 16)
    u, w, scale = model(images, tokens)[:3]
    assert u.shape == (2, 32) and torch.allclose(u.norm(dim=1), torch.ones(2), atol=1e-5)
    loss = clip_loss(u, w, scale)
    assert loss.item() == pytest.approx(
        clip_loss_numpy(u.detach(), w.detach(), scale.item()), rel=1e-4
    )
    loss.backward()
    assert model.logit_scale.grad is not None
    with pytest.raises(ValueError):
        create_openclip_towers()


def test_stratified_sample_and_disjoint_split():
    frame = _frame()
    ids = stratified_sample(frame, 30, seed=3)
    assert len(ids) == 30 and len(set(ids)) == 30
    counts = frame.loc[ids, "articleType"].value_counts().to_dict()
    assert counts == {"t0": 15, "t1": 10, "t2": 5}  # 61 → 30: shares 14.75, 9.84, 4.92, 0.49
    split = split_products(frame, frame.index.to_numpy(), seed=3)
    parts = [set(v) for v in split.values()]
    assert sum(map(len, parts)) == len(frame) and set().union(*parts) == set(frame.index)
    assert all(not (a & b) for i, a in enumerate(parts) for b in parts[i + 1 :])
    assert len(split["test"]) == 6 + 4 + 2  # 20 % of 30, 20, 10; the singleton goes to train
    again = split_products(frame, frame.index.to_numpy(), seed=3)
    assert all(np.array_equal(split[k], again[k]) for k in split)


def test_topk_sentinel_and_metrics_on_hand_example():
    scores = np.array([[0.9, -np.inf, 0.5, 0.1], [-np.inf, 0.2, -np.inf, -np.inf]])
    top = topk_from_scores(scores, 3)
    assert top.tolist() == [[0, 2, 3], [1, 4, 4]]
    truth = [np.array([2]), np.array([3])]
    m = retrieval_metrics(top, truth, own=np.array([0, 1]), ks=(1, 3))
    # query 0: relevant {0, 2}, ranks 1 and 2 → P@3 = 2/3, MAP@3 = 1, NDCG@3 = 1
    # query 1: relevant {1, 3}, hit at rank 1 only → P@3 = 1/3, MAP@3 = 1/2,
    #          NDCG@3 = 1 / (1 + 1/log2(3))
    assert m["precision@3"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert m["map@3"] == pytest.approx((1 + 0.5) / 2)
    assert m["ndcg@3"] == pytest.approx((1 + 1 / (1 + 1 / np.log2(3))) / 2)
    assert m["exact_recall@1"] == 1.0


def test_attribute_truth():
    q = pd.DataFrame({"articleType": ["a", "b"], "gender": ["M", "W"], "baseColour": ["R", "R"]})
    g = pd.DataFrame({"articleType": ["a", "a", "b", "b"], "gender": ["M", "W", "W", "W"],
                      "baseColour": ["R", "R", "R", "B"]})
    truth = attribute_truth(q, g)
    assert [t.tolist() for t in truth] == [[0], [2]]


def test_own_rank_and_exact_mrr_by_hand():
    from mmrs.retrieval import own_rank

    scores = np.array([[0.9, 0.5, -np.inf, 0.7], [0.1, 0.3, 0.2, -np.inf]])
    rank = own_rank(scores, np.array([1, 3]))
    # query 0: own score 0.5, beaten by 0.9 and 0.7 → rank 3; query 1: own photo not a candidate
    assert rank[0] == 3 and np.isinf(rank[1])
    assert np.mean(1 / rank) == pytest.approx((1 / 3 + 0) / 2)  # MRR = 1/6


def test_graded_ndcg_router_blind_by_hand():
    from mmrs.retrieval import GRADED_KEYS, attribute_codes, graded_gains, graded_ndcg

    assert "articleType" not in GRADED_KEYS and "subCategory" not in GRADED_KEYS
    cols = list(GRADED_KEYS)  # gender, baseColour, season, usage
    q = pd.DataFrame([["M", "Red", "Summer", "Casual"]], columns=cols)
    g = pd.DataFrame([["M", "Red", "Summer", "Casual"], ["M", "Blue", "Summer", "Casual"],
                      ["W", "Blue", "Winter", "Formal"], ["M", "Red", "Winter", "Formal"]],
                     columns=cols)
    gains = graded_gains(*attribute_codes(q, g))
    np.testing.assert_allclose(gains, [[1.0, 0.75, 0.0, 0.5]])  # shares of 4 attributes
    # ranked list: item 3 (gain .5), then a padded slot (sentinel 4, gain 0)
    out = graded_ndcg(np.array([[3, 4]]), gains, ks=(1, 2))
    # ideal list: gains 1, .75 → IDCG@2 = 1 + .75 / log2(3); DCG@2 = .5
    assert out["graded_ndcg@1"][0] == pytest.approx(0.5)
    assert out["graded_ndcg@2"][0] == pytest.approx(0.5 / (1 + 0.75 / np.log2(3)))
    assert graded_ndcg(np.array([[0, 1]]), gains, ks=(2,))["graded_ndcg@2"][0] == pytest.approx(1.0)


def test_catalogue_size_takes_every_eligible_product():
    from mmrs.config import PROFILES, RETRIEVAL_SIZES
    from mmrs.experiments import EXPERIMENTS
    from mmrs.experiments.hierarchical import parser
    from mmrs.retrieval import sizes

    cat = sizes("catalogue")
    assert cat is RETRIEVAL_SIZES["catalogue"] and "catalogue" not in PROFILES
    assert sizes("ci") is PROFILES["ci"].retrieval and sizes("full") is PROFILES["full"].retrieval
    frame = _frame()
    frame.loc[frame.index[0], "title"] = " "  # not eligible: no title
    ids = stratified_sample(frame, cat.n_products, seed=0)
    assert ids.tolist() == sorted(frame.index[1:])  # every eligible product, all articleTypes
    points = {p.name: p for p in EXPERIMENTS["hierarchical"].points}
    assert points["catalogue"].record == "book/results/hierarchical_catalogue.json"
    assert points["catalogue"].argv[-2:] == ("--size", "catalogue")
    args = parser().parse_args(["--size", "catalogue", "--out", "x.json"])
    assert args.size == "catalogue"


def test_prepare_reads_features_under_the_sorted_sample(monkeypatch):
    import mmrs.hierarchical.experiment as exp

    frame = _frame().sample(frac=1.0, random_state=0)  # index order is not sorted
    seen = {}

    def fake_features(catalogue, ids, progress=True, device=None):
        seen["ids"] = [int(i) for i in ids]
        col = np.asarray(ids, np.float32)[:, None]
        return col, col, {}

    monkeypatch.setattr(exp, "product_features", fake_features)
    catalogue = type("C", (), {"products": frame})()
    data = exp.prepare(catalogue, sizes_for_test(10**9), seed=0, progress=False)
    # the whole catalogue: the cache key is every eligible id, sorted (whatever the seed)
    assert seen["ids"] == sorted(frame.index.tolist())
    assert data.image[:, 0].tolist() == data.products.index.tolist()  # rows aligned
    assert sum(map(len, data.rows.values())) == len(frame)


def sizes_for_test(n):
    from mmrs.retrieval import RetrievalSizes

    return RetrievalSizes(name="t", n_products=n, epochs=1, specialise_epochs=1, min_specialise=5,
                          router_epochs=1)


def test_catalogue_size_on_the_fashion_data_covers_every_category():
    from conftest import require

    require("fashion-small")
    from mmrs.data import load_fashion
    from mmrs.retrieval import eligible, sizes

    products = load_fashion().products
    ids = stratified_sample(products, sizes("catalogue").n_products, seed=6)
    pool = eligible(products)
    assert ids.tolist() == sorted(pool.index.tolist())  # every product with a title and a photo
    for level in ("articleType", "subCategory"):  # all article types and the 45-way level
        assert products.loc[ids, level].nunique() == pool[level].nunique()
