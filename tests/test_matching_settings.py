"""Chapter 7's evaluation design: pair-level metrics, the two settings, the three-way group split,
the ArcFace heads and the ladder in the clean–clean setting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mmrs.matching import MatchConfig, listing_f1, match_scores, run_ladder, tune
from mmrs.matching.heads import ProjectionHead, train_head
from mmrs.matching.knn import Neighbours, brute_force_knn
from mmrs.matching.pairs import pair_scores, per_listing_f1, predicted_pairs, self_only
from mmrs.matching.setting import cross_source_knn, one_to_one
from mmrs.matching.split import split_groups3
from mmrs.matching.trained import train_views


def _matches(n: int, pairs: list[tuple[int, int]]) -> sp.csr_matrix:
    rows = list(range(n)) + [i for i, _ in pairs]
    cols = list(range(n)) + [j for _, j in pairs]
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, n))


# --- pair-level metrics -------------------------------------------------------------------------

def test_pair_scores_hand_case():
    # groups (0, 0, 1, 1): T = {0,1}, {2,3}. Predicted {0,1} (from both sides: counted once) and
    # {1,2}: |P| = 2, |P ∩ T| = 1 → precision 1/2, recall 1/2, F1 = 2·1/(2+2) = 0.5
    groups = np.array([0, 0, 1, 1])
    m = _matches(4, [(0, 1), (1, 0), (1, 2)])
    s = pair_scores(m, groups)
    assert (s["precision"], s["recall"], s["f1"]) == (0.5, 0.5, 0.5)
    assert (s["predicted_pairs"], s["true_pairs"]) == (2, 2)
    i, j = predicted_pairs(m)
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 1), (1, 2)]


def test_pair_scores_counts_all_pairs_of_a_group():
    # one group of 3 → T = 3 pairs; predicting {0,1}, {0,2} and the false {2,3}:
    # hits 2, precision 2/3, recall 2/3, F1 = 4/6
    s = pair_scores(_matches(4, [(0, 1), (0, 2), (2, 3)]), np.array([5, 5, 5, 7]))
    assert s["true_pairs"] == 3
    assert math.isclose(s["precision"], 2 / 3) and math.isclose(s["f1"], 4 / 6)


def test_self_only_scores_zero_pair_f1_but_high_shopee_f1():
    # groups: one pair and three singletons. Self-only: Shopee F1 = (2/3 + 2/3 + 1 + 1 + 1)/5
    groups = np.array([0, 0, 1, 2, 3])
    trivial = self_only(5)
    assert pair_scores(trivial, groups) == {"f1": 0.0, "precision": 0.0, "recall": 0.0,
                                            "predicted_pairs": 0, "true_pairs": 1}
    assert math.isclose(match_scores(trivial, groups)["f1"], (4 / 3 + 3) / 5)


def test_pair_scores_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        pair_scores(self_only(3), np.array([0, 0]))
    with pytest.raises(ValueError, match="no group has two"):
        pair_scores(self_only(2), np.array([0, 1]))


def test_per_listing_f1_equals_the_list_metric():
    groups = np.array([0, 0, 0, 1])
    m = _matches(4, [(0, 1), (2, 3), (3, 2)])
    lists = [[0, 1], [1], [2, 3], [3, 2]]
    truth = [[0, 1, 2], [0, 1, 2], [0, 1, 2], [3]]
    expected = [listing_f1(p, t) for p, t in zip(lists, truth, strict=True)]
    np.testing.assert_allclose(per_listing_f1(m, groups), expected)  # 0.8, 0.5, 0.4, 2/3


# --- settings ------------------------------------------------------------------------------------

def test_cross_source_knn_searches_only_the_other_source():
    # 0 and 1 are same-source near-duplicates; 2 is the other source's listing
    x = np.array([[1.0, 0.0], [0.99, 0.141], [0.6, 0.8], [0.0, 1.0]], np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sources = np.array(["a", "a", "b", "b"])
    nb = cross_source_knn(x, sources, k=3)
    assert nb.index[:, 0].tolist() == [0, 1, 2, 3]           # itself first, similarity 1
    np.testing.assert_allclose(nb.sim[:, 0], 1.0)
    assert nb.index[0, 1:].tolist() == [2, 3]                # not its same-source twin 1
    assert nb.index[2, 1:].tolist() == [1, 0]                # cos(2,1) > cos(2,0)
    assert all(sources[j] != sources[i] for i in range(4) for j in nb.index[i, 1:])
    pooled = brute_force_knn(x, k=2)
    assert pooled.index[0, 1] == 1                           # pooled: the twin crowds in


def test_cross_source_knn_matches_masked_brute_force_on_random_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 5)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sources = rng.integers(0, 2, size=30)
    nb = cross_source_knn(sp.csr_matrix(x), sources, k=4, chunk=7)
    s = x @ x.T
    for i in range(30):
        other = np.flatnonzero(sources != sources[i])
        top = other[np.argsort(-s[i, other], kind="stable")[:3]]
        assert nb.index[i, 1:].tolist() == top.tolist()
    with pytest.raises(ValueError, match="two sources"):
        cross_source_knn(x, np.zeros(30), k=3)


def test_one_to_one_is_greedy_by_score():
    # scores {0,1}: 1.9, {0,2}: 1.8, {2,3}: 1.7 → keep {0,1} (best) then {2,3}; {0,2} loses
    m = sp.csr_matrix((np.array([1.9, 1.8, 1.7], np.float32), ([0, 2, 2], [1, 0, 3])),
                      shape=(4, 4))
    out = one_to_one(m)
    assert (out != out.T).nnz == 0
    assert sorted(zip(*predicted_pairs(out), strict=True)) == [(0, 1), (2, 3)]
    assert out.diagonal().tolist() == [2.5] * 4


def test_pair_objective_does_not_collapse_to_self_only():
    # 4 listings of two sources; true pairs (0,2) and (1,3) at cosine 0.9, wrong pairs at 0.5
    groups = np.array([0, 1, 0, 1])
    nb = Neighbours(np.array([[0, 2, 3], [1, 3, 2], [2, 0, 1], [3, 1, 0]]),
                    np.array([[1, .9, .5], [1, .9, .5], [1, .9, .5], [1, .9, .5]], np.float32))
    res = tune({"v": nb}, groups, MatchConfig({"v": 0.0}), objective="pair")
    assert 0.1 < res.config.thresholds["v"] <= 0.5 and res.scores["f1"] == 1.0
    with pytest.raises(ValueError, match="objective"):
        tune({"v": nb}, groups, MatchConfig({"v": 0.0}), objective="nope")


def test_ladder_in_the_clean_clean_setting():
    rng = np.random.default_rng(1)
    n_pairs = 40
    centres = rng.normal(size=(n_pairs, 8))
    a = np.vstack([centres + 0.2 * rng.normal(size=centres.shape) for _ in range(2)])
    b = np.vstack([centres + 0.3 * rng.normal(size=centres.shape) for _ in range(2)])
    groups = np.tile(np.arange(n_pairs), 2)
    sources = np.repeat(["left", "right"], n_pairs)
    val = groups < n_pairs // 2
    res = run_ladder({"a": a.astype(np.float32), "b": b.astype(np.float32)}, groups, val,
                     stages=1, progress=False, sources=sources, objective="pair", one_to_one=True)
    assert res.baseline["test"]["pair_f1"] == 0.0
    assert math.isclose(res.baseline["test"]["shopee_f1"], 2 / 3)  # every listing has a partner
    assert (res.table["test_pair_f1"] > 0.8).all()
    for part in ("val", "test"):
        srcs = sources[res.rows[part]]
        m = res.tuning["INB stage 1"].config.predict(res.neighbours["stage 1"][part])
        i, j = predicted_pairs(m)
        assert (srcs[i] != srcs[j]).all()                        # only cross-source pairs
        assert np.diff(m.indptr).max() <= 2                      # one-to-one: self + 1
    with pytest.raises(ValueError, match="sources"):
        run_ladder({"a": a, "b": b}, groups, val, stages=0, progress=False, one_to_one=True)


# --- the three-way split ---------------------------------------------------------------------------

def test_split_groups3_sizes_and_no_group_in_two_splits():
    groups = np.repeat(np.arange(8), [1, 2, 3, 1, 2, 2, 1, 4])
    label = split_groups3(groups, (0.5, 0.25, 0.25), seed=3)
    per_group = {g: set(label[groups == g]) for g in range(8)}
    assert all(len(v) == 1 for v in per_group.values())
    counts = {p: sum(v == {p} for v in per_group.values()) for p in ("train", "val", "test")}
    assert counts == {"train": 4, "val": 2, "test": 2}           # 8 groups: 4 / 2 / 2
    assert (split_groups3(groups, seed=3) == label).all()          # seeded
    assert any((split_groups3(groups, seed=s) != label).any() for s in range(4, 10))
    with pytest.raises(ValueError, match="fractions"):
        split_groups3(groups, (0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="three groups"):
        split_groups3(np.array([0, 0, 1]))


# --- ArcFace heads ----------------------------------------------------------------------------------

@pytest.mark.parametrize("margin", [0.0, 28.6])
def test_arcface_loss_is_the_margin_softmax_we_document(margin):
    from pytorch_metric_learning.losses import ArcFaceLoss

    torch.manual_seed(0)
    z, y, s = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2]), 16.0
    loss_fn = ArcFaceLoss(num_classes=3, embedding_size=4, margin=margin, scale=s)
    cos = torch.nn.functional.normalize(z, dim=1) @ torch.nn.functional.normalize(
        loss_fn.W, dim=0)
    theta = torch.acos(cos.clamp(-1, 1))
    target = torch.cos(theta.gather(1, y[:, None]) + math.radians(margin))  # margin in degrees
    logits = cos.scatter(1, y[:, None], target) * s
    expected = torch.nn.functional.cross_entropy(logits, y)
    assert torch.allclose(loss_fn(z, y), expected, atol=1e-4)


def test_train_head_is_seeded_learns_and_sends_gradients_to_the_head():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, 6))
    x = np.repeat(centres, 3, axis=0) + 0.5 * rng.normal(size=(30, 6))
    labels = np.repeat(np.arange(10), 3)
    f1 = train_head(x, labels, margin=20, scale=16, dim=4, epochs=30, seed=7)
    f2 = train_head(x, labels, margin=20, scale=16, dim=4, epochs=30, seed=7)
    np.testing.assert_array_equal(f1.transform(x), f2.transform(x))
    assert f1.losses[-1] < 0.5 * f1.losses[0]
    np.testing.assert_allclose(np.linalg.norm(f1.transform(x), axis=1), 1.0, rtol=1e-5)
    head = ProjectionHead(6, 4)
    head(torch.as_tensor(x[:2], dtype=torch.float32)).sum().backward()
    assert all(p.grad is not None for p in head.parameters())
    with pytest.raises(ValueError, match="margin"):
        train_head(x, labels, margin=-1)


def test_train_views_tunes_margin_on_validation():
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(24, 16))
    x = np.vstack([centres + 0.4 * rng.normal(size=centres.shape) for _ in range(2)])
    groups = np.tile(np.arange(24), 2)
    split = split_groups3(groups, seed=0)
    out = train_views({"v": x.astype(np.float32)}, groups, split, None, "shopee", False,
                      margins=(0.0, 20.0), scales=(16.0,), epochs=5, seed=0)
    assert out.views["v"].shape == (48, 128)
    assert [g["margin"] for g in out.grid] == [0.0, 20.0]
    best = max(out.grid, key=lambda g: g["val_f1"])
    assert out.chosen["v"]["margin"] == best["margin"]


# --- the study and the chapter's tables -------------------------------------------------------------

def _synthetic_task(n_pairs: int = 36, seed: int = 0):
    from mmrs.experiments.matching import MatchingTask

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_pairs, 12))
    left = centres + 0.5 * rng.normal(size=centres.shape)
    right = centres + 0.5 * rng.normal(size=centres.shape)
    twins = left[: n_pairs // 3] + 0.05 * rng.normal(size=(n_pairs // 3, 12))  # same-shop twins
    x = np.vstack([left, right, twins]).astype(np.float32)
    groups = np.concatenate([np.arange(n_pairs), np.arange(n_pairs), 1000 + np.arange(n_pairs // 3)])
    sources = np.array(["L"] * n_pairs + ["R"] * n_pairs + ["L"] * (n_pairs // 3))
    views = {"a": x, "b": (x + 0.3 * rng.normal(size=x.shape)).astype(np.float32)}
    split = split_groups3(groups, seed=seed)
    return MatchingTask("abt-buy", "ci", seed, views, groups, split == "val", None,
                        sources=sources, split=split)


def test_study_and_chapter_tables():
    from mmrs.chapters.matching_study import (
        anchors_table,
        inb_by_group_size,
        inb_table,
        ladder_both,
        margin_curve,
        nn_precision,
        settings_table,
        val_test_gap,
    )
    from mmrs.experiments.matching import study

    task = _synthetic_task()
    metrics, ladders = study(task, stages=1, epochs=3)
    record = {"metrics": metrics}
    assert metrics["setting"] == "clean-clean" and metrics["objective"] == "pair"
    both = ladder_both(record)
    assert both.loc["self only (baseline)", "frozen pair F1"] == 0.0
    assert set(settings_table(record).index) == {
        "pooled, Shopee-F1 tuned", "pooled, pair-F1 tuned", "clean-clean, pair-F1 tuned",
        "clean-clean + one-to-one, pair-F1 tuned"}
    assert list(margin_curve(record).columns) == ["a", "b"]
    gap = val_test_gap(record)
    np.testing.assert_allclose(gap["val − test"], gap["validation"] - gap["test"])
    assert len(inb_table({"abt-buy": record})) == 2
    assert list(inb_by_group_size(record).columns) == ["frozen", "trained"]
    anchors = anchors_table({"abt-buy": record, "amazon-google": record})
    assert anchors.loc["JedAI, schema-agnostic", "abt-buy"] == 90.0
    # nearest-neighbour precision: the same-shop twins crowd out partners only when pooled
    x, g, s = task.views["a"], task.groups, task.sources
    assert nn_precision(x, g, s) > nn_precision(x, g, None)


def test_nn_precision_hand_case():
    from mmrs.chapters.matching_study import nn_precision

    # listings 0 (L) and 2 (R) are one product, 1 (L) is 0's same-shop twin and alone.
    x = np.array([[1.0, 0.0], [0.995, 0.0998], [0.8, 0.6]], np.float32)
    groups, sources = np.array([0, 1, 0]), np.array(["L", "L", "R"])
    # pooled: 0's nearest is its twin 1 (wrong), 2's nearest is 1 too (wrong) → 0 of 2
    assert nn_precision(x, groups, None) == 0.0
    # clean–clean: 0 → 2 (right); 2 → its nearest L listing, 1 (cos .856 > .8), wrong → 1 of 2
    assert nn_precision(x, groups, sources) == 0.5
