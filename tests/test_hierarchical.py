"""Tests of mmrs.hierarchical: routing, restriction, soft routing, heads, interference (fast)."""

import numpy as np
import pytest
import torch
from conftest import needs

from mmrs.chapters.hierarchical import gain_frame
from mmrs.hierarchical import (
    PARTS,
    candidates_scored,
    cross_category_share,
    flat_scores,
    flat_topk,
    gain_decomposition,
    pca_2d,
    routed_scores,
    routing_accuracy,
    specialise_heads,
    train_router,
)
from mmrs.retrieval import LockedTowers, retrieval_metrics, topk_from_scores


def identity_towers(d: int) -> LockedTowers:
    """Linear heads fixed to the identity: embeddings are the normalised features."""
    model = LockedTowers(d, d, dim=d, hidden=0)
    with torch.no_grad():
        for head in (model.image_head, model.text_head):
            head.net.weight.copy_(torch.eye(d))
            head.net.bias.zero_()
    return model


# gallery: items 0,1 in category 0, items 2,3 in category 1
G = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.95, 0.0, 0.31], [0.0, 0.0, 1.0]], np.float32)
G_CODES = np.array([0, 0, 1, 1])
Q = np.array([[0.9, 0.1, 0.4], [0.1, 0.0, 1.0]], np.float32)  # query 0 in cat 0, query 1 in cat 1
Q_CODES = np.array([0, 1])


def test_routing_restricts_candidates_to_the_category():
    model = identity_towers(3)
    flat = flat_scores(model, Q, G)
    routed = routed_scores(model, {}, Q, G, G_CODES, Q_CODES[:, None])
    for q, c in enumerate(Q_CODES):
        inside = G_CODES == c
        assert np.all(np.isneginf(routed[q, ~inside]))
        np.testing.assert_allclose(routed[q, inside], flat[q, inside], rtol=1e-6)
    assert candidates_scored(G_CODES, Q_CODES[:, None]).tolist() == [2, 2]
    assert candidates_scored(G_CODES, np.array([[0, 1], [1, 1]])).tolist() == [4, 2]


def test_oracle_routing_beats_flat_on_a_constructed_example():
    model = identity_towers(3)
    own = np.array([0, 3])
    truth = [np.array([0, 1]), np.array([2, 3])]
    # relevance = same category; flat ranks item 2 (category 1) first for query 0
    flat_top = topk_from_scores(flat_scores(model, Q, G), 2)
    assert flat_top[0, 0] == 2
    oracle_top = topk_from_scores(routed_scores(model, {}, Q, G, G_CODES, Q_CODES[:, None]), 2)
    flat_m = retrieval_metrics(flat_top, truth, own, ks=(1, 2))
    oracle_m = retrieval_metrics(oracle_top, truth, own, ks=(1, 2))
    assert oracle_m["precision@2"] == 1.0 and flat_m["precision@2"] == 0.75
    assert all(oracle_m[k] >= flat_m[k] for k in flat_m)


def test_soft_routing_adds_log_prior_and_scale():
    model = identity_towers(3)
    routes = np.array([[0, 1], [1, 0]])
    logp = np.log(np.array([[0.9, 0.1], [0.6, 0.4]]))
    soft = routed_scores(model, {}, Q, G, G_CODES, routes, logp)
    cos = flat_scores(model, Q, G)
    scale = float(model.logit_scale.detach().exp())
    expected = scale * cos + np.where(G_CODES == routes[:, :1], logp[:, :1], logp[:, 1:])
    np.testing.assert_allclose(soft, expected, rtol=1e-5)


def test_specialised_head_is_used_for_its_category_only():
    shared = identity_towers(3)
    special = identity_towers(3)
    with torch.no_grad():
        special.text_head.net.weight.copy_(torch.diag(torch.tensor([1.0, 1.0, -1.0])))
    routed = routed_scores(shared, {1: special}, Q, G, G_CODES, np.array([[0], [1]]))
    flat = flat_scores(shared, Q, G)
    np.testing.assert_allclose(routed[0, :2], flat[0, :2], rtol=1e-6)  # category 0: shared
    assert routed[1, 3] < 0 < flat[1, 3]  # category 1: the flipped head


@needs("open_clip")  # the heads train with open_clip's ClipLoss
def test_router_learns_separable_categories_and_heads_fallback():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8)) * 3
    labels = np.repeat(np.arange(3), [40, 40, 5])
    x = (centres[labels] + rng.normal(size=(85, 8))).astype(np.float32)
    router = train_router(x, labels, 3, epochs=100, seed=0)
    assert routing_accuracy(router, x, labels, 1) >= 0.95
    assert routing_accuracy(router, x, labels, 3) == 1.0
    codes, logp = router.top_m(x[:2], 2)
    assert codes.shape == (2, 2) and np.all(logp[:, 0] >= logp[:, 1])
    shared = LockedTowers(8, 8, dim=4, hidden=0)
    heads = specialise_heads(shared, x, x, labels, min_items=10, epochs=1, seed=0, progress=False)
    assert sorted(heads) == [0, 1]  # category 2 (5 items) falls back to the shared heads
    assert heads[0] is not shared


def test_flat_topk_in_blocks_equals_one_block():
    model = identity_towers(3)
    whole = topk_from_scores(flat_scores(model, Q, G), 3)
    assert np.array_equal(flat_topk(model, Q, G, 3, block_elements=4), whole)  # 1 query a block
    assert np.array_equal(flat_topk(model, Q, G, 3), whole)
    share = cross_category_share(None, Q_CODES, G_CODES, 3, top=whole)
    np.testing.assert_allclose(share, cross_category_share(flat_scores(model, Q, G), Q_CODES, G_CODES, 3))


def test_cross_category_share_and_pca():
    scores = np.array([[0.9, 0.8, 0.1], [0.1, 0.2, 0.3]])
    share = cross_category_share(scores, np.array([0, 1]), np.array([0, 1, 1]), k=2)
    assert share.tolist() == [0.5, 0.0]
    x = np.array([[0, 0, 0], [2, 0, 0], [0, 1, 0], [2, 1, 0]], float)
    coords = pca_2d(x)
    assert coords.shape == (4, 2)
    assert np.abs(coords[:, 0]).tolist() == pytest.approx([1, 1, 1, 1])  # first PC: the x-axis


def test_gain_frame_has_paper_row():
    result = {"gain_pp": {"flat": {f"{m}@{k}": 0.0 for m in ("precision", "map", "ndcg") for k in (5, 10, 20)}},
              "mean_gain_pp": {"flat": 0.0}}
    frame = gain_frame(result)
    assert frame.loc["paper (Oh & Kim 2025)", "mean"] == pytest.approx(4.75)


def test_neighbour_table_and_worst_query():
    import pandas as pd

    from mmrs.hierarchical import neighbour_table, worst_query

    products = pd.DataFrame({"articleType": ["a", "a", "b"], "gender": ["M"] * 3,
                             "baseColour": ["R"] * 3, "title": ["x", "y", "z"]})
    scores = np.array([[0.5, 0.1, 0.9], [0.1, 0.9, 0.2]])
    table = neighbour_table(products, scores, np.array([0, 1]), 0, k=2)
    assert table["rank"].tolist() == ["query", 1, 2]
    assert table["title"].tolist() == ["x", "z", "x"]
    assert worst_query(scores, np.array([0, 0]), np.array([0, 0, 1]), k=1) == 0


@needs("open_clip")  # the towers train with open_clip's ClipLoss
def test_fit_and_evaluate_on_synthetic_catalogue():
    import pandas as pd

    from mmrs.hierarchical import VARIANTS, Data, evaluate, fit
    from mmrs.retrieval import RetrievalSizes

    rng = np.random.default_rng(0)
    n = 240
    types = rng.choice(["a", "b", "c", "d"], size=n, p=[0.4, 0.3, 0.2, 0.1])
    sub = np.where(np.isin(types, ["a", "b"]), "ab", "cd")
    products = pd.DataFrame({"articleType": types, "subCategory": sub,
                             "gender": rng.choice(["M", "W"], size=n), "baseColour": "Red",
                             "season": rng.choice(["Summer", "Fall"], size=n), "usage": "Casual"})
    codes = pd.Categorical(types).codes
    centres = rng.normal(size=(4, 16))
    latent = centres[codes] + 0.8 * rng.normal(size=(n, 16))
    image = (latent @ rng.normal(size=(16, 20))).astype(np.float32)
    text = (latent @ rng.normal(size=(16, 12))).astype(np.float32)
    perm = rng.permutation(n)
    data = Data(products, image, text,
                {"train": np.sort(perm[:160]), "valid": np.sort(perm[160:190]),
                 "test": np.sort(perm[190:])}, {})
    sz = RetrievalSizes(name="test", n_products=n, epochs=3, specialise_epochs=2,
                        min_specialise=40, router_epochs=50, batch_size=32, dim=8, hidden=16,
                        ks=(5, 10))
    fitted = fit(data, sz, seed=0, progress=False)
    assert set(fitted.levels["articleType"].heads) == {0, 1}  # only a and b have ≥ 40 train pairs
    result = evaluate(data, fitted, sz, "articleType")
    assert list(result["metrics"]) == list(VARIANTS)
    assert result["candidates"]["flat"] == n
    true_sizes = np.bincount(codes)[codes[data.rows["test"]]]
    assert result["candidates"]["cascade | true"] == pytest.approx(true_sizes.mean())
    assert result["gain_pp"]["flat"]["precision@5"] == 0.0
    wrong = result["error_propagation"].get("routed wrong")
    if wrong:  # relevance needs the same articleType: a misrouted query finds nothing
        assert wrong["cascade | predicted"]["precision@10"] == 0.0
        assert wrong["cascade | predicted"]["exact_mrr"] == 0.0  # nor its own photo
    # the router-blind graded relevance can still find items of another category
    assert 0 < result["metrics"]["flat | true"]["graded_ndcg@10"] <= 1
    # the oracle route never removes the own photo: its MRR is at least flat's
    assert result["metrics"]["flat | true"]["exact_mrr"] >= result["metrics"]["flat"]["exact_mrr"]
    for name, parts in result["decomposition_pp"].items():
        assert sum(parts[p] for p in PARTS) == pytest.approx(parts["total"], abs=1e-9), name
    assert result["decomposition_pp"]["mean"]["total"] == pytest.approx(
        result["mean_gain_pp"]["cascade | predicted"])
    for row in result["buckets"]:  # each bucket's parts add up to its gain, for every metric
        for prefix in ("", "MRR_exact ", "gNDCG "):
            parts = [row[f"{prefix}{p}_pp"] for p in ("reduction", "extra_training", "specialisation")]
            assert sum(parts) == pytest.approx(row[f"{prefix}gain_pp"], abs=1e-9)
        assert row["gain_pp"] == pytest.approx(
            100 * (row["cascade | predicted P@10"] - row["flat P@10"]))
    # blocked evaluation gives the same numbers as one block
    import mmrs.hierarchical.experiment as exp

    old_block = exp.BLOCK_ELEMENTS
    exp.BLOCK_ELEMENTS = 7 * len(image)  # 7 queries per block
    try:
        blocked = evaluate(data, fitted, sz, "articleType")
    finally:
        exp.BLOCK_ELEMENTS = old_block
    for v in VARIANTS:
        assert blocked["metrics"][v] == pytest.approx(result["metrics"][v])


def test_decomposition_sums_to_total():
    from mmrs.chapters.hierarchical import decomposition_frame

    g = {"flat": 0.0, "flat | predicted": 3.0, "flat+ | predicted": 3.5, "cascade | predicted": 5.0,
         "cascade | true": 7.0}
    frame = decomposition_frame({"articleType": {"mean_gain_pp": g}})
    row = frame.loc["articleType"]
    assert row[["reduction", "extra training", "specialisation"]].tolist() == [3.0, 0.5, 1.5]
    assert row[["reduction", "extra training", "specialisation"]].sum() == row["total (cascade | predicted)"]


def test_gain_decomposition_telescopes_on_metric_values():
    # P@10: flat .40, flat|pred .46, flat+|pred .47, cascade|pred .50 → parts 6, 1, 3 %p of 10 %p
    m = {"flat": 0.40, "flat | predicted": 0.46, "flat+ | predicted": 0.47, "cascade | predicted": 0.50}
    parts = gain_decomposition(m, scale=100)
    assert [parts[p] for p in PARTS] == pytest.approx([6.0, 1.0, 3.0])
    assert sum(parts[p] for p in PARTS) == pytest.approx(parts["total"]) and parts["total"] == pytest.approx(10.0)
    # a negative part (routing removed relevant items) still adds up
    m["flat | predicted"] = 0.35
    parts = gain_decomposition(m, scale=100)
    assert parts["reduction"] == pytest.approx(-5.0) and parts["extra training"] == pytest.approx(12.0)
    assert sum(parts[p] for p in PARTS) == pytest.approx(parts["total"])


def test_plots_return_figures():
    import matplotlib

    matplotlib.use("Agg")
    from mmrs.chapters.hierarchical_plots import plot_buckets, plot_embedding_map, plot_gains

    rng = np.random.default_rng(0)
    fig = plot_embedding_map(rng.normal(size=(30, 5)), np.repeat(["a", "b", "c"], 10), top=2)
    assert len(fig.axes[0].collections) == 2
    assert plot_gains({"flat": 0.0, "cascade": 3.0}).axes[0].get_xlabel().startswith("mean gain")
    row = {"bucket": "1-5 items", "gain_pp": -1.0, "reduction_pp": -2.0, "extra_training_pp": 0.5,
           "specialisation_pp": 0.5}
    assert len(plot_buckets([row, {**row, "bucket": "6-9 items"}]).axes[0].patches) == 6


def test_bucket_frame_parts_sum_to_gain():
    from mmrs.chapters.hierarchical import bucket_frame

    row = {"bucket": "1-5 items", "n_queries": 3, "has_own_head": 0.0}
    for v, p in zip(("flat", "flat | predicted", "flat+ | predicted", "cascade | predicted"),
                    (0.2, 0.3, 0.25, 0.4), strict=True):
        row[f"{v} P@10"], row[f"{v} MRR_exact"] = p, p / 2
    # P@10: parts 10, -5, 15 %p sum to the gain 20 %p; MRR: half of each
    for prefix, scale in (("", 1.0), ("MRR_exact ", 0.5)):
        for name, v in (("gain", 20), ("reduction", 10), ("extra_training", -5), ("specialisation", 15)):
            row[f"{prefix}{name}_pp"] = scale * v
    frame = bucket_frame({"buckets": [row]})
    assert list(frame.columns[-4:]) == ["gain_pp", "reduction_pp", "extra_training_pp", "specialisation_pp"]
    assert frame.iloc[0, -3:].sum() == frame.iloc[0]["gain_pp"] == 20
    mrr = bucket_frame({"buckets": [row]}, "MRR_exact")
    assert mrr.iloc[0]["gain_pp"] == 10 and "flat MRR_exact" in mrr and "flat P@10" not in mrr


def test_relevance_frame_and_record_summary_on_a_tiny_record():
    from mmrs.chapters.hierarchical import record_summary, relevance_frame

    variants = ("flat", "flat+", "flat | predicted", "flat+ | predicted", "flat | true",
                "cascade | predicted", "cascade | true", "cascade | soft top-m")
    # metric value of variant j: 0.1 + 0.01 j (so every gain over flat is j %p), but
    # cascade | predicted (j = 5) gets 0.16: a gain of 6 %p
    metrics = {v: {**{f"{m}@{k}": 0.1 + 0.01 * j for m in ("precision", "map", "ndcg")
                      for k in (5, 10, 20)},
                   "exact_mrr": 0.1 + 0.01 * j, "graded_ndcg@10": 0.1 + 0.01 * j}
               for j, v in enumerate(variants)}
    metrics["cascade | predicted"] = {m: 0.16 for m in metrics["flat"]}
    gains = {v: {m: 100 * (x - metrics["flat"][m]) for m, x in vals.items()} for v, vals in metrics.items()}
    mean = {v: float(np.mean([gains[v][f"{m}@{k}"] for m in ("precision", "map", "ndcg")
                              for k in (5, 10, 20)])) for v in variants}
    level = {"metrics": metrics, "gain_pp": gains, "mean_gain_pp": mean}
    frame = relevance_frame(level)
    # flat | predicted gains 2 %p, flat+ | predicted 3, cascade | predicted 6: parts 2, 1, 3 %p
    for name in frame.index:
        assert frame.loc[name, ["reduction", "extra training", "specialisation"]].astype(float).tolist() \
            == pytest.approx([2.0, 1.0, 3.0])
        assert frame.loc[name, "cascade | predicted"] == pytest.approx(6.0)
    dec = {m: gain_decomposition(mean if m == "mean" else {v: gains[v][m] for v in variants})
           for m in ("mean", "exact_mrr", "graded_ndcg@10")}
    record = {"dataset": {"sizes": {"sampled_products": 10, "queries": 4, "gallery": 10}},
              "config": {"epochs": 3},
              "metrics": {"latency": {"flat": {"median_us": 800.0}, "cascade | predicted": {"median_us": 100.0}},
                          "levels": {"articleType": {**level, "decomposition_pp": dec, "n_categories": 3,
                                                     "stage1": {"top1": 0.75},
                                                     "candidates": {"cascade | predicted": 2.5}},
                                     "subCategory": {"decomposition_pp": dec, "n_categories": 2}}}}
    out = record_summary(record)
    assert out["speedup_x"] == 8.0 and out["cand_pct"] == 25.0 and out["router_top1"] == 75.0
    assert out["mrr_gain_s"] == "+6.0 %p" and out["mrr_largest"] == "specialisation"
    assert out["graded_verdict"] == "survives"
