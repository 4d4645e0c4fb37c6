"""Tests of mmrs.matching: F1 by hand, min2, union, blending, kNN vs brute force, tuning, split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import needs
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mmrs.matching import (
    MatchConfig,
    Neighbours,
    approximate_knn,
    blend_weights,
    brute_force_knn,
    cap_matches,
    comb,
    faiss_knn,
    knn,
    l2_normalize,
    listing_f1,
    match_matrix,
    match_scores,
    matches_to_lists,
    neighbourhood_blend,
    predict,
    rerank_candidates,
    run_ladder,
    shopee_f1,
    split_groups,
    take_rows,
    tfidf_embeddings,
    tune,
    union,
)
from mmrs.matching.embeddings import squared_norms
from mmrs.matching.knn import similarity_rows


# -- the metric ---------------------------------------------------------------------------
def test_listing_f1_hand_cases():
    assert listing_f1(["a", "b"], ["a", "b"]) == 1.0
    assert listing_f1(["a", "c"], ["a", "b"]) == pytest.approx(0.5)  # 2*1/(2+2)
    assert listing_f1(["a"], ["a", "b", "c"]) == pytest.approx(0.5)  # 2*1/(1+3)
    assert listing_f1(["a", "b", "c", "d"], ["a", "b"]) == pytest.approx(2 * 2 / 6)
    assert listing_f1([], ["a"]) == 0.0


def test_listing_f1_keeps_only_50_predictions():
    truth = ["q", *[f"t{i}" for i in range(60)]]
    pred = ["q", *[f"t{i}" for i in range(60)]]  # 61 correct, but only 50 count
    assert listing_f1(pred, truth) == pytest.approx(2 * 50 / (50 + 61))


def test_shopee_f1_is_the_mean_and_validates():
    pred = [["a", "b"], ["b"], ["c", "a"]]
    truth = [["a", "b"], ["a", "b"], ["c"]]
    assert shopee_f1(pred, truth) == pytest.approx((1.0 + 2 / 3 + 2 / 3) / 3)
    with pytest.raises(ValueError):
        shopee_f1(pred[:2], truth)
    with pytest.raises(ValueError):
        listing_f1(["a"], [])


def test_match_scores_equals_list_metric():
    groups = np.array([0, 0, 1, 1, 1, 2])
    pred = sp.csr_matrix(
        (np.ones(9), ([0, 0, 1, 2, 2, 3, 4, 5, 5], [0, 1, 1, 2, 5, 3, 4, 5, 4])), shape=(6, 6)
    )
    lists = [np.flatnonzero(pred[i].toarray()) for i in range(6)]
    truth = [np.flatnonzero(groups == g) for g in groups]
    scores = match_scores(pred, groups)
    assert scores["f1"] == pytest.approx(shopee_f1(lists, truth))
    # by hand: precision rows 1,1,1/2,1,1,1/2 ; recall 1,1/2,1/3,1/3,1/3,1
    assert scores["precision"] == pytest.approx((1 + 1 + 0.5 + 1 + 1 + 0.5) / 6)
    assert scores["recall"] == pytest.approx((1 + 0.5 + 1 / 3 + 1 / 3 + 1 / 3 + 1) / 6)


# -- thresholds, min2, union --------------------------------------------------------------
def _toy_neighbours() -> Neighbours:
    # 4 listings; rows: self first, then neighbours with similarities
    index = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0], [3, 2, 1]])
    sim = np.array([[1.0, 0.9, 0.2], [1.0, 0.9, 0.1], [1.0, 0.55, 0.2], [1.0, 0.55, 0.1]])
    return Neighbours(index, sim)


def test_match_matrix_threshold_and_self():
    nb = _toy_neighbours()
    lists = matches_to_lists(match_matrix(nb, 0.2))  # accepts d < 0.2: only the 0.9 pairs
    assert lists == [[0, 1], [1, 0], [2], [3]]
    assert matches_to_lists(match_matrix(nb, 0.0)) == [[0], [1], [2], [3]]


def test_min2_adds_the_nearest_other_within_the_relaxed_threshold():
    nb = _toy_neighbours()
    # listings 2 and 3 are alone at t = 0.2; their nearest other is at d = 0.45
    assert matches_to_lists(match_matrix(nb, 0.2, min2=True, relaxed=0.5)) == [
        [0, 1],
        [1, 0],
        [2, 3],
        [3, 2],
    ]
    assert matches_to_lists(match_matrix(nb, 0.2, min2=True, relaxed=0.4)) == [
        [0, 1],
        [1, 0],
        [2],
        [3],
    ]
    assert matches_to_lists(match_matrix(nb, 0.2, min2=True)) == [[0, 1], [1, 0], [2, 3], [3, 2]]
    with pytest.raises(ValueError):
        match_matrix(nb, 0.5, min2=True, relaxed=0.3)


def test_min2_raises_f1_when_groups_are_pairs():
    nb = _toy_neighbours()
    groups = np.array([0, 0, 1, 1])
    plain = match_scores(match_matrix(nb, 0.2), groups)["f1"]
    with_min2 = match_scores(match_matrix(nb, 0.2, min2=True), groups)["f1"]
    assert plain == pytest.approx((1 + 1 + 2 / 3 + 2 / 3) / 4)
    assert with_min2 == 1.0


def test_union_semantics_and_predict():
    nb_a = Neighbours(
        np.array([[0, 1], [1, 0], [2, 0]]), np.array([[1.0, 0.95], [1.0, 0.95], [1.0, 0.1]])
    )
    nb_b = Neighbours(
        np.array([[0, 2], [1, 2], [2, 0]]), np.array([[1.0, 0.9], [1.0, 0.1], [1.0, 0.9]])
    )
    a, b = match_matrix(nb_a, 0.2), match_matrix(nb_b, 0.2)
    u = union(a, b)
    assert matches_to_lists(u) == [[0, 1, 2], [1, 0], [2, 0]]
    assert u[0, 1] == pytest.approx(1.95) and u[0, 2] == pytest.approx(1.9)  # max score kept
    assert (predict({"a": nb_a, "b": nb_b}, {"a": 0.2, "b": 0.2}) != u).nnz == 0
    with pytest.raises(KeyError):
        predict({"a": nb_a}, {"c": 0.2})
    with pytest.raises(ValueError):
        union(a, sp.csr_matrix((2, 2)))


def test_cap_keeps_the_50_best():
    n = 60
    scores = np.tile(np.linspace(1.0, 1.9, n), (1, 1))
    m = sp.csr_matrix((scores.ravel(), (np.zeros(n, int), np.arange(n))), shape=(1, n))
    capped = cap_matches(m, 50)
    assert capped.nnz == 50
    assert set(capped.indices) == set(range(10, 60))


# -- embeddings and kNN --------------------------------------------------------------------
def test_l2_normalize_dense_sparse_and_blocks():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(l2_normalize(x), [[0.6, 0.8], [0.0, 0.0]])
    s = l2_normalize(sp.csr_matrix(x))
    np.testing.assert_allclose(s.toarray(), [[0.6, 0.8], [0.0, 0.0]])
    blocks = l2_normalize((np.array([[3.0]]), np.array([[4.0]])))
    np.testing.assert_allclose(np.hstack(blocks), [[0.6, 0.8]])


def test_comb_is_the_mean_of_cosines_and_differs_from_concat_first():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 3)) * 10, rng.normal(size=(5, 4))
    c = comb([a, b])
    np.testing.assert_allclose(squared_norms(c), 1.0, rtol=1e-5)
    cos_a = similarity_rows(l2_normalize(a), np.arange(5))
    cos_b = similarity_rows(l2_normalize(b), np.arange(5))
    np.testing.assert_allclose(similarity_rows(c, np.arange(5)), (cos_a + cos_b) / 2, atol=1e-5)
    d = comb([a, b], "concat_then_normalize")
    np.testing.assert_allclose(np.hstack(d), l2_normalize(np.hstack([a, b])), atol=1e-6)
    with pytest.raises(ValueError):
        comb([a, b], "average")


@needs("sklearn")
def test_tfidf_matches_model_numbers():
    x = tfidf_embeddings(["Sony TV KDL-40V4100", "Sony Bravia KDL40V4100 LCD", "Bose speaker AM5"])
    s = similarity_rows(x, np.arange(3))
    assert s[0, 1] > s[0, 2] and s[0, 1] > 0.3
    np.testing.assert_allclose(np.diag(s), 1.0, rtol=1e-5)


@needs("faiss")
@settings(max_examples=25, deadline=None)
@given(
    arrays(
        np.float32,
        st.tuples(st.integers(2, 40), st.integers(1, 8)),
        elements=st.floats(-1, 1, width=32),
    ),
    st.integers(1, 60),
)
def test_faiss_equals_brute_force(x, k):
    x = l2_normalize(x + np.float32(1e-3))  # avoid all-zero rows
    fast, ref = faiss_knn(x, k), brute_force_knn(x, k, chunk=7)
    assert fast.k == ref.k == min(k, len(x))
    np.testing.assert_allclose(fast.sim, ref.sim, atol=1e-5)
    # indices agree wherever the similarity is not tied with a neighbour's
    sims = similarity_rows(x, np.arange(len(x)))
    np.testing.assert_allclose(np.take_along_axis(sims, fast.index, 1), ref.sim, atol=1e-5)


def test_rerank_with_all_candidates_is_exact_and_never_finds_new_ones():
    rng = np.random.default_rng(5)
    x = l2_normalize(rng.normal(size=(40, 8)).astype(np.float32))
    moved = l2_normalize(x + 0.7 * rng.normal(size=x.shape).astype(np.float32))
    full = brute_force_knn(x, 40)  # every listing is a candidate of every other
    again = rerank_candidates(moved, full, chunk=7)
    exact = brute_force_knn(moved, 40)
    np.testing.assert_allclose(again.sim, exact.sim, atol=1e-5)
    np.testing.assert_array_equal(again.index, exact.index)
    # with 5 candidates the re-ranked lists are the old sets, re-sorted by the new similarity
    few = brute_force_knn(x, 5)
    rer = rerank_candidates(moved, few)
    assert all(set(a) == set(b) for a, b in zip(rer.index.tolist(), few.index.tolist(), strict=True))
    assert np.all(np.diff(rer.sim, axis=1) <= 1e-7)
    np.testing.assert_allclose(rer.sim[3, 0], moved[3] @ moved[rer.index[3, 0]], rtol=1e-5)
    # padding (-1, as faiss returns) stays last with similarity -inf
    padded = Neighbours(np.array([[-1, 2, 1]]), np.zeros((1, 3), np.float32))
    out = rerank_candidates(moved[:3], padded)
    assert out.index[0, -1] == -1 and out.sim[0, -1] == -np.inf


@needs("faiss")
@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_knn_finds_planted_partners(kind):
    # 300 groups of 2 near-duplicates in 32-d: both indexes must return each listing's partner
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(300, 32)).astype(np.float32)
    x = l2_normalize(np.repeat(centres, 2, axis=0) + 0.1 * rng.normal(size=(600, 32)).astype(np.float32))
    nb = approximate_knn(x, k=5, kind=kind, nprobe=4)
    partner = np.arange(600) ^ 1
    found = (nb.index == partner[:, None]).any(axis=1)
    assert found.mean() >= 0.99
    assert nb.index.shape == (600, 5) and np.all(np.diff(nb.sim, axis=1) <= 1e-6)
    np.testing.assert_allclose(nb.sim[0, 0], x[0] @ x[nb.index[0, 0]], rtol=1e-5)
    with pytest.raises(ValueError, match="unknown approximate index"):
        approximate_knn(x, kind="lsh")


@needs("faiss")
def test_knn_on_sparse_and_block_embeddings():
    rng = np.random.default_rng(1)
    dense = l2_normalize(rng.normal(size=(30, 6)).astype(np.float32))
    sparse = l2_normalize(sp.random(30, 50, density=0.2, random_state=2, format="csr"))
    fused = comb([sparse, dense])
    nb = knn(fused, 51)
    assert nb.k == 30  # capped at n
    ref = brute_force_knn(comb([sparse.toarray(), dense]), 30)
    np.testing.assert_allclose(nb.sim, ref.sim, atol=1e-5)
    with pytest.raises(TypeError):
        faiss_knn(sparse)
    with pytest.raises(ValueError):
        knn(dense, 0)


# -- blending -------------------------------------------------------------------------------
def test_blending_by_hand():
    # a and b are a true pair at cos 0.8; c is unrelated (cos 0 with both)
    x = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    nb = knn(x, 3, backend="brute")
    w = blend_weights(nb, threshold=0.5)  # accepts d = 0.2 only
    np.testing.assert_allclose(w.toarray(), [[0, 0.8, 0], [0.8, 0, 0], [0, 0, 0]], atol=1e-6)
    y = neighbourhood_blend(x, w)
    a = np.array([1.64, 0.48, 0.0]) / np.linalg.norm([1.64, 0.48, 0.0])  # x_a + 0.8 x_b
    b = np.array([1.6, 0.6, 0.0]) / np.linalg.norm([1.6, 0.6, 0.0])  # x_b + 0.8 x_a
    np.testing.assert_allclose(y, [a, b, [0, 0, 1]], atol=1e-6)
    assert float(y[0] @ y[1]) > 0.8  # the pair got closer ...
    assert float(y[0] @ y[2]) == pytest.approx(0.0, abs=1e-7)  # ... the outsider did not


def test_blending_blocks_equals_blending_the_concatenation():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(12, 3)), rng.normal(size=(12, 5))
    c = comb([a, b])
    nb = knn(c, 5)
    w = blend_weights(nb, 0.9)
    blocked = np.hstack(neighbourhood_blend(c, w))
    np.testing.assert_allclose(blocked, neighbourhood_blend(np.hstack(c), w), atol=1e-6)


# -- split and tuning -----------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 15), min_size=2, max_size=80), st.integers(0, 1000))
def test_split_never_shares_a_group(groups, seed):
    groups = np.array(groups)
    if len(np.unique(groups)) < 2:
        with pytest.raises(ValueError):
            split_groups(groups, 0.5, seed)
        return
    val = split_groups(groups, 0.5, seed)
    assert not set(groups[val]) & set(groups[~val])
    assert val.any() and (~val).any()
    np.testing.assert_array_equal(val, split_groups(groups, 0.5, seed))


def test_tune_finds_the_separating_threshold():
    nb = _toy_neighbours()
    groups = np.array([0, 0, 1, 1])
    res = tune({"v": nb}, groups, MatchConfig({"v": 0.9}))
    assert res.scores["f1"] == 1.0
    assert 0.45 < res.config.thresholds["v"] <= 0.8  # accepts d=0.1, 0.45; rejects d=0.8
    curve = res.curve("v")
    assert curve["f1"].max() == 1.0 and curve.loc[0.0, "recall"] == pytest.approx(0.5)


def _synthetic_views(seed: int = 0, n_groups: int = 40):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 5, size=n_groups)
    groups = np.repeat(np.arange(n_groups), sizes)
    centres_a, centres_b = rng.normal(size=(n_groups, 16)), rng.normal(size=(n_groups, 16))
    a = centres_a[groups] + 0.7 * rng.normal(size=(len(groups), 16))
    b = centres_b[groups] + 0.7 * rng.normal(size=(len(groups), 16))
    return {"image": a.astype(np.float32), "text": b.astype(np.float32)}, groups


def test_ladder_on_synthetic_views():
    views, groups = _synthetic_views()
    val = split_groups(groups, 0.5, 0)
    res = run_ladder(views, groups, val, stages=2, progress=False)
    t = res.table
    assert list(t.index)[:2] == ["image only", "text only"]
    assert len(t) == 9
    assert (
        ((t[["val_f1", "test_f1", "test_precision", "test_recall"]] >= 0) & (t.iloc[:, :4] <= 1))
        .all()
        .all()
    )
    # two noisy views of the same groups: fusion beats either alone on validation
    assert t.loc["normalize→concat", "val_f1"] > max(
        t.loc["image only", "val_f1"], t.loc["text only", "val_f1"]
    )
    assert res.selected_step() in t.index
    assert take_rows(views["image"], val).shape[0] == val.sum()
    with pytest.raises(ValueError):
        run_ladder({"a": views["image"]}, groups, val)


def test_ladder_rerank_equals_search_when_every_listing_is_a_candidate():
    views, groups = _synthetic_views(seed=3, n_groups=30)
    val = split_groups(groups, 0.5, 1)
    cols = ["val_f1", "test_f1", "test_precision", "test_recall"]
    search = run_ladder(views, groups, val, stages=2, k=500, progress=False).table
    rerank = run_ladder(views, groups, val, stages=2, k=500, progress=False, blend_search="rerank").table
    pd.testing.assert_frame_equal(search[cols], rerank[cols])
    # with a short candidate list the stages can differ, but stage 0 cannot
    short = run_ladder(views, groups, val, stages=1, k=3, progress=False, blend_search="rerank").table
    again = run_ladder(views, groups, val, stages=1, k=3, progress=False).table
    pd.testing.assert_frame_equal(short[cols].iloc[:7], again[cols].iloc[:7])
    sparse_views = {"a": sp.csr_matrix(views["image"]), "b": views["text"]}
    with pytest.raises(TypeError, match="dense views"):
        run_ladder(sparse_views, groups, val, stages=1, progress=False, blend_search="rerank")
    with pytest.raises(ValueError, match="blend_search"):
        run_ladder(views, groups, val, blend_search="exact")


def test_threshold_zero_switches_a_view_off_even_for_duplicates():
    nb = Neighbours(np.array([[0, 1], [1, 0]]), np.array([[1.0, 1.0000001], [1.0, 1.0000001]]))
    assert matches_to_lists(match_matrix(nb, 0.0)) == [[0], [1]]
    assert matches_to_lists(match_matrix(nb, 0.01)) == [[0, 1], [1, 0]]


def test_min2_with_zero_relaxed_threshold_adds_nothing():
    nb = Neighbours(np.array([[0, 1], [1, 0]]), np.array([[1.0, 1.0000001], [1.0, 1.0000001]]))
    assert matches_to_lists(match_matrix(nb, 0.0, min2=True, relaxed=0.0)) == [[0], [1]]
