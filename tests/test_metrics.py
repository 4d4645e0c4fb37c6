"""Full-ranking metrics: hand-computed cases, properties, masking, independent implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmrs.data.synthetic import synthetic_interactions
from mmrs.metrics import evaluate_split, evaluate_topk, full_ranking_topk, topk_scores

LOG2_3 = math.log2(3.0)
LOG2_4 = 2.0
LOG2_5 = math.log2(5.0)


def test_single_user_hand_computed():
    # One user, relevant {1, 3}; ranking [1, 2, 3, 4]  ->  rel = [1, 0, 1, 0].
    # K=2: hits 1; recall 1/2; precision 1/2; hit 1
    #      DCG = 1/log2(2) = 1;  IDCG over min(2,2)=2 positions = 1 + 1/log2(3)
    #      MAP = P@1 / min(2,2) = 1/2
    # K=4: hits 2; recall 1; precision 2/4
    #      DCG = 1 + 1/log2(4) = 1.5;  IDCG = 1 + 1/log2(3)
    #      MAP = (P@1 + P@3) / min(2,4) = (1 + 2/3) / 2 = 5/6
    out = evaluate_topk(np.array([[1, 2, 3, 4]]), [np.array([3, 1])], ks=[2, 4])
    idcg = 1.0 + 1.0 / LOG2_3
    assert out["recall@2"] == pytest.approx(0.5)
    assert out["precision@2"] == pytest.approx(0.5)
    assert out["hit@2"] == pytest.approx(1.0)
    assert out["ndcg@2"] == pytest.approx(1.0 / idcg)
    assert out["map@2"] == pytest.approx(0.5)
    assert out["recall@4"] == pytest.approx(1.0)
    assert out["precision@4"] == pytest.approx(0.5)
    assert out["ndcg@4"] == pytest.approx(1.5 / idcg)
    assert out["map@4"] == pytest.approx(5.0 / 6.0)


def test_idcg_and_map_use_min_of_truth_and_k():
    # Relevant {0, 1, 2} (3 items), ranking [5, 0, 6]  ->  rel = [0, 1, 0].
    # K=1: nothing hit: all metrics 0.
    # K=3: recall 1/3; precision 1/3; DCG = 1/log2(3); IDCG over min(3,3)=3 positions
    #      = 1 + 1/log2(3) + 1/2; MAP = P@2 / min(3,3) = (1/2)/3 = 1/6.
    out = evaluate_topk(np.array([[5, 0, 6]]), [[0, 1, 2]], ks=[1, 3])
    assert out["recall@1"] == out["ndcg@1"] == out["map@1"] == out["hit@1"] == 0.0
    assert out["recall@3"] == pytest.approx(1 / 3)
    assert out["precision@3"] == pytest.approx(1 / 3)
    assert out["ndcg@3"] == pytest.approx((1 / LOG2_3) / (1 + 1 / LOG2_3 + 1 / LOG2_4))
    assert out["map@3"] == pytest.approx(1 / 6)
    # K=1 with 3 relevant items: IDCG uses min(3, 1) = 1 position, MAP divides by 1.
    out = evaluate_topk(np.array([[2, 5, 6]]), [[0, 1, 2]], ks=[1])
    assert out["ndcg@1"] == pytest.approx(1.0)
    assert out["map@1"] == pytest.approx(1.0)
    assert out["recall@1"] == pytest.approx(1 / 3)


def test_average_over_users_skips_users_without_truth():
    # user 0: relevant {0}, ranking [0, 1]   -> recall@2 1, ndcg@2 1, map 1, precision 1/2
    # user 1: no relevant items              -> skipped
    # user 2: relevant {7}, ranking [3, 7]   -> recall 1, ndcg = (1/log2 3) / 1, map = (1/2)/1,
    #                                           precision 1/2
    topk = np.array([[0, 1], [0, 1], [3, 7]])
    truth = sp.csr_matrix(([1.0, 1.0], ([0, 2], [0, 7])), shape=(3, 10))
    out = evaluate_topk(topk, truth, ks=[2])
    assert out["recall@2"] == pytest.approx(1.0)
    assert out["precision@2"] == pytest.approx(0.5)
    assert out["ndcg@2"] == pytest.approx((1.0 + 1.0 / LOG2_3) / 2)
    assert out["map@2"] == pytest.approx((1.0 + 0.5) / 2)
    assert out["hit@2"] == pytest.approx(1.0)
    # The same through per-user lists (empty list for user 1).
    assert evaluate_topk(topk, [[0], [], [7]], ks=[2]) == pytest.approx(out)


def test_ndcg_three_hits_by_hand():
    # relevant {1, 2, 3, 9}, ranking [1, 8, 2, 3] -> rel [1, 0, 1, 1], K=4
    # DCG = 1 + 1/log2(4) + 1/log2(5); IDCG = 1 + 1/log2(3) + 1/log2(4) + 1/log2(5)
    # MAP = (1/1 + 2/3 + 3/4) / min(4, 4)
    out = evaluate_topk(np.array([[1, 8, 2, 3]]), [[1, 2, 3, 9]], ks=[4])
    dcg = 1 + 1 / LOG2_4 + 1 / LOG2_5
    idcg = 1 + 1 / LOG2_3 + 1 / LOG2_4 + 1 / LOG2_5
    assert out["ndcg@4"] == pytest.approx(dcg / idcg)
    assert out["map@4"] == pytest.approx((1 + 2 / 3 + 3 / 4) / 4)
    assert out["recall@4"] == pytest.approx(3 / 4)


def reference_metrics(topk: np.ndarray, truth: list[set[int]], k: int) -> dict[str, float]:
    """A deliberately plain per-user loop, written independently of mmrs.metrics."""
    sums = dict.fromkeys(("recall", "ndcg", "precision", "map", "hit"), 0.0)
    n = 0
    for ranked, rel in zip(topk, truth, strict=True):
        if not rel:
            continue
        n += 1
        hits, dcg, ap = 0, 0.0, 0.0
        for pos, item in enumerate(ranked[:k], start=1):
            if item in rel:
                hits += 1
                dcg += 1 / math.log2(pos + 1)
                ap += hits / pos
        idcg = sum(1 / math.log2(p + 1) for p in range(1, min(len(rel), k) + 1))
        sums["recall"] += hits / len(rel)
        sums["precision"] += hits / k
        sums["ndcg"] += dcg / idcg
        sums["map"] += ap / min(len(rel), k)
        sums["hit"] += float(hits > 0)
    return {f"{m}@{k}": v / n for m, v in sums.items()}


rankings = st.integers(min_value=1, max_value=6).flatmap(
    lambda n_users: st.tuples(
        st.lists(
            st.permutations(list(range(12))).map(lambda p: p[:8]),
            min_size=n_users,
            max_size=n_users,
        ),
        st.lists(st.sets(st.integers(0, 14), max_size=6), min_size=n_users, max_size=n_users),
    )
)


@settings(max_examples=60, deadline=None)
@given(rankings)
def test_properties_bounds_reference_and_truth_order(case):
    topk_lists, truth_sets = case
    if not any(truth_sets):
        truth_sets[0] = {0}
    topk = np.array(topk_lists)
    out = evaluate_topk(topk, [sorted(t) for t in truth_sets], ks=[1, 3, 8])
    assert all(0.0 <= v <= 1.0 + 1e-12 for v in out.values())
    for k in (1, 3, 8):
        assert out[f"precision@{k}"] <= out[f"hit@{k}"] + 1e-12
        for key, value in reference_metrics(topk, truth_sets, k).items():
            assert out[key] == pytest.approx(value)
    # invariance to the order (and duplication) of each user's relevant items
    shuffled = [list(reversed(sorted(t))) + sorted(t)[:1] for t in truth_sets]
    assert evaluate_topk(topk, shuffled, ks=[1, 3, 8]) == pytest.approx(out)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sets(st.integers(0, 29), min_size=1, max_size=5), min_size=1, max_size=5))
def test_perfect_ranking_scores_one(truth_sets):
    # Put each user's relevant items first; |truth| <= 5 <= K -> recall/ndcg/map/hit = 1.
    rows = []
    for t in truth_sets:
        rest = [i for i in range(30) if i not in t]
        rows.append(sorted(t) + rest[: 10 - len(t)])
    out = evaluate_topk(np.array(rows), [list(t) for t in truth_sets], ks=[5, 10])
    for k in (5, 10):
        for m in ("recall", "ndcg", "map", "hit"):
            assert out[f"{m}@{k}"] == pytest.approx(1.0)


def test_agrees_with_sklearn_ndcg_binary():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    n_users, n_items, k = 30, 40, 10
    scores = rng.random((n_users, n_items))  # continuous: no ties
    relevance = (rng.random((n_users, n_items)) < 0.15).astype(float)
    relevance[relevance.sum(axis=1) == 0, 0] = 1.0  # every user has a relevant item
    topk = np.argsort(-scores, axis=1)[:, :k]
    truth = sp.csr_matrix(relevance)
    ours = evaluate_topk(topk, truth, ks=[k])["ndcg@10"]
    # sklearn: DCG over the top-k of y_score, IDCG over the top-k of y_true (binary gains ->
    # min(|truth|, k) ones), linear gains and log2(rank + 1) discounts: MMRec's definition.
    theirs = sklearn_metrics.ndcg_score(relevance, scores, k=k)
    assert ours == pytest.approx(theirs, rel=1e-10)


def test_topk_scores_masks_and_orders():
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.4]])
    exclude = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 0, 1]], dtype=float))
    assert topk_scores(scores.clone(), 2, exclude).tolist() == [[1, 2], [2, 1]]
    assert topk_scores(scores.numpy(), 2, None).tolist() == [[0, 1], [3, 2]]
    with pytest.raises(ValueError):
        topk_scores(scores, 5, None)


def test_training_items_never_recommended():
    data = synthetic_interactions(60, 40, seed=3)
    rng = np.random.default_rng(0)
    table = torch.from_numpy(rng.random((data.n_users, data.n_items)).astype(np.float32))
    # a score function that *prefers* training items: without masking they would fill the top
    boosted = table + 10.0 * torch.from_numpy(data.train.toarray().astype(np.float32))
    topk = full_ranking_topk(
        lambda u: boosted[u].clone(), data.n_users, 15, data.train, batch_size=7
    )
    assert topk.shape == (data.n_users, 15)
    train = data.train.toarray() > 0
    assert not train[np.arange(data.n_users)[:, None], topk].any()
    # batch size does not change the result
    again = full_ranking_topk(lambda u: boosted[u].clone(), data.n_users, 15, data.train, 4096)
    np.testing.assert_array_equal(topk, again)


def test_evaluate_split_masks_train_only_at_test_time():
    data = synthetic_interactions(50, 30, seed=1)
    valid_dense = torch.from_numpy(data.valid.toarray().astype(np.float32))
    test_dense = torch.from_numpy(data.test.toarray().astype(np.float32))
    # Scores: validation items highest, then test items. At test time validation items are not
    # masked (MMRec), so they occupy the top ranks and push test items down.
    table = 2.0 * valid_dense + 1.0 * test_dense
    test_with_valid_first = evaluate_split(lambda u: table[u].clone(), data, "test", ks=[1])
    oracle = evaluate_split(lambda u: test_dense[u].clone(), data, "test", ks=[1])
    assert oracle["hit@1"] == pytest.approx(1.0)
    assert test_with_valid_first["hit@1"] == pytest.approx(0.0)
    # On the validation split the oracle ranking of valid items scores 1.
    assert evaluate_split(lambda u: valid_dense[u].clone(), data, "valid", ks=[1])["hit@1"] == 1.0
    # With validation items also masked at test time, the same scores find the test item first.
    masked = evaluate_split(lambda u: table[u].clone(), data, "test", ks=[1], mask_valid_at_test=True)
    assert masked["hit@1"] == pytest.approx(1.0)


@pytest.mark.realdata
def test_most_pop_on_baby_masks_training_items(baby):
    # Real data: rank all 19,445 Baby users; no training item may be recommended, and MostPop's
    # test Recall@20 lands near MMRec-style published popularity baselines (about 0.05).
    from mmrs.models import MostPop

    model = MostPop(baby.train)
    topk = full_ranking_topk(model.score_users, baby.n_users, 50, baby.train)
    rows = np.repeat(np.arange(baby.n_users), 50)
    assert not np.asarray(baby.train[rows, topk.ravel()]).any()
    result = evaluate_split(model, baby, "test", ks=[20])
    assert 0.03 < result["recall@20"] < 0.08
