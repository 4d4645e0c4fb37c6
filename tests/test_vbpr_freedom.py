"""VBPR and FREEDOM: losses by hand, feature order, the frozen kNN graph, degree-sensitive
pruning, forward passes against dense calculations, errors, and seeded reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mmrs.chapters.feature_models import tiny_vbpr
from mmrs.data import synthetic_interactions
from mmrs.graph import normalized_adjacency_scipy, symmetric_normalize
from mmrs.models import build_model
from mmrs.models.freedom import (
    FREEDOM,
    degree_sensitive_prune,
    item_item_graph,
    knn_graph,
)
from mmrs.models.vbpr import VBPR, concat_features
from mmrs.train import TrainConfig, train

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")


# ---------------------------------------------------------------- VBPR


def test_vbpr_loss_by_hand():
    model = tiny_vbpr()
    # q_0 = [1, 0.5], q_1 = [0, -1]; p_u = [1, 2] -> s_u0 = 2, s_u1 = -2
    loss = model.calculate_loss(torch.tensor([0]), torch.tensor([0]), torch.tensor([1]))
    bpr = math.log1p(math.exp(-4.0))  # -log σ(4) = 0.018149
    reg = math.sqrt(5) + math.sqrt(1.25) + 1.0  # ‖p_u‖ + ‖q_0‖ + ‖q_1‖, B = 1 -> 4.354102
    assert float(loss) == pytest.approx(bpr + 0.1 * reg, abs=1e-6)
    scores = model.score_users(torch.tensor([0]))
    assert torch.allclose(scores, torch.tensor([[2.0, -2.0]]))


def test_vbpr_scores_move_with_the_features():
    model = tiny_vbpr()
    model.eval()
    before = model.score_users(torch.tensor([0]))[0, 1].item()
    model.raw_features[1, 0] = 3.0  # item 1's content half becomes [3] -> score 0 + 2 * 3 = 6
    model.train()  # drop the evaluation cache
    model.eval()
    assert before == pytest.approx(-2.0)
    assert model.score_users(torch.tensor([0]))[0, 1].item() == pytest.approx(6.0)


def test_vbpr_feature_order_and_errors():
    feats = {"image": np.full((3, 2), 7.0, "f4"), "text": np.arange(3, dtype="f4")[:, None]}
    both = concat_features(feats, ("image", "text"), 3)
    assert both.shape == (3, 3)
    assert np.array_equal(both[:, 0], [0, 1, 2])  # text first, as MMRec's cat((t, v))
    assert np.all(both[:, 1:] == 7.0)
    with pytest.raises(ValueError, match="extract them first"):
        concat_features({"image": feats["image"]}, ("text",), 3)
    with pytest.raises(ValueError, match="expected \\(4, d\\)"):
        concat_features(feats, ("text",), 4)
    with pytest.raises(ValueError, match="at least one"):
        VBPR(2, 3, {}, modalities=())
    model = VBPR(2, 3, feats)
    assert model.modalities == ("text", "image")
    assert model.item_linear.in_features == 3
    assert not model.raw_features.requires_grad  # VBPR's features are fixed inputs


# ---------------------------------------------------------------- FREEDOM graphs


def test_knn_graph_by_hand():
    x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]], dtype=np.float32)
    g = knn_graph(x, k=2)
    assert g.toarray().tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]]
    s = symmetric_normalize(g)  # every row sums to k = 2 -> 1/sqrt(2 * 2) = 0.5 per edge
    assert np.allclose(s.toarray(), g.toarray() * 0.5)
    with pytest.raises(ValueError, match="k must be"):
        knn_graph(x, k=5)


def test_item_item_graph_weights_the_modalities():
    image = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], dtype=np.float32)
    text = np.array([[1.0, 0.0], [0.0, 1.0], [0.1, 0.9]], dtype=np.float32)
    s = item_item_graph({"image": image, "text": text}, ("image", "text"), k=2, image_weight=0.1)
    s_v = symmetric_normalize(knn_graph(image, 2)).toarray()
    s_t = symmetric_normalize(knn_graph(text, 2)).toarray()
    assert np.allclose(s.toarray(), 0.1 * s_v + 0.9 * s_t)
    # item 0's image neighbour is item 1 (weight 0.1 * 0.5); its text neighbour is item 2
    assert s.toarray()[0, 1] == pytest.approx(0.05)
    assert s.toarray()[0, 2] == pytest.approx(0.45)


def test_degree_sensitive_prune_counts_and_normalisation():
    data = synthetic_interactions(50, 30, seed=4)
    coo = sp.coo_matrix(data.train)
    gen = torch.Generator().manual_seed(0)
    adj = degree_sensitive_prune(coo, 0.2, gen)
    n_users = data.n_users
    kept = sp.csr_matrix(adj[:n_users, n_users:])
    assert kept.nnz == int(coo.nnz * 0.2)
    assert (abs(adj - adj.T)).max() < 1e-7  # symmetric
    assert set(zip(*kept.nonzero(), strict=True)) <= set(zip(coo.row, coo.col, strict=True))
    du, di = np.diff(kept.indptr), np.asarray((kept > 0).sum(axis=0)).ravel()
    rows, cols = kept.nonzero()
    assert np.allclose(kept[rows, cols].A1, 1.0 / np.sqrt(du[rows] * di[cols]))


def test_degree_sensitive_prune_prefers_low_degree_edges():
    # user 0 - items 0..3 (d_u = 4); user 1 - item 4 only, and item 4 has degree 1:
    # weights 1/sqrt(4*1) = 0.5 for the four edges of user 0, 1/sqrt(1*1) = 1 for (1, 4)
    r = sp.coo_matrix(([1.0] * 5, ([0, 0, 0, 0, 1], [0, 1, 2, 3, 4])), shape=(2, 5))
    gen = torch.Generator().manual_seed(1)
    draws = 3000
    hits = 0
    for _ in range(draws):
        adj = degree_sensitive_prune(r, 0.2, gen)  # keeps int(5 * 0.2) = 1 edge
        hits += adj[1, 2 + 4] > 0
    p = 1.0 / (4 * 0.5 + 1.0)  # = 1/3, against 1/5 for uniform sampling
    assert hits / draws == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / draws))


# ---------------------------------------------------------------- FREEDOM model


def small_freedom(**kwargs) -> tuple[FREEDOM, object, dict]:
    data = synthetic_interactions(40, 25, seed=6)
    rng = np.random.default_rng(0)
    feats = {"image": rng.normal(size=(25, 6)).astype("f4"), "text": rng.normal(size=(25, 5)).astype("f4")}
    return FREEDOM(data.train, feats, knn_k=3, **kwargs), data, feats


def test_freedom_forward_matches_dense_calculation():
    model, data, feats = small_freedom()
    a_hat = normalized_adjacency_scipy(data.train).toarray()
    s = item_item_graph(feats, ("image", "text"), k=3).toarray()
    e_u, e_i = model.user_embedding.detach().numpy(), model.item_embedding.detach().numpy()
    ego = np.vstack([e_u, e_i])
    layers = [ego, a_hat @ ego, a_hat @ a_hat @ ego]
    mean = np.mean(layers, axis=0)
    expected_items = mean[data.n_users :] + s @ e_i
    model.eval()
    h_u, h_i = model.eval_cache()  # evaluation uses the full, unpruned graph
    assert np.allclose(h_u.numpy(), mean[: data.n_users], atol=1e-5)
    assert np.allclose(h_i.numpy(), expected_items, atol=1e-5)
    scores = model.score_users(torch.tensor([0, 3]))
    assert np.allclose(scores.numpy(), mean[[0, 3], :] @ expected_items.T, atol=1e-5)


def test_freedom_loss_terms_and_gradients():
    model, data, _ = small_freedom(reg_weight=0.5, dropout=0.0)
    users, pos = (torch.from_numpy(a[:16]) for a in data.pairs("train"))
    neg = (pos + 1) % data.n_items
    terms = model.loss_terms(users, pos, neg)
    h_users, h_items = model.forward(model.norm_adj)  # dropout 0: the "pruned" graph is the full one
    h_u = h_users[users]

    def bpr(a, b, c):
        return float(-torch.nn.functional.logsigmoid((a * b).sum(1) - (a * c).sum(1)).mean())

    assert float(terms["bpr"]) == pytest.approx(bpr(h_u, h_items[pos], h_items[neg]), rel=1e-5)
    for m in ("image", "text"):
        proj = model.projections[m](model.feat_tables[m])
        assert float(terms[f"bpr_{m}"]) == pytest.approx(bpr(h_u, proj[pos], proj[neg]), rel=1e-5)
    expected = terms["bpr"] + 0.5 * (terms["bpr_image"] + terms["bpr_text"])
    assert float(terms["total"]) == pytest.approx(float(expected), rel=1e-6)
    terms["total"].backward()
    touched = torch.unique(torch.cat([pos, neg]))
    grad = model.feat_tables["text"].grad
    untouched = torch.ones(data.n_items, dtype=torch.bool)
    untouched[touched] = False
    assert grad[touched].abs().sum() > 0
    assert grad[untouched].abs().sum() == 0  # feature rows outside the batch get no gradient
    assert model.item_embedding.grad.abs().sum() > 0
    assert not any(p is model.mm_adj for p in model.parameters())  # the kNN graph stays frozen


def test_freedom_pre_epoch_prunes_and_is_seeded():
    model, data, _ = small_freedom(dropout=0.8)
    torch.manual_seed(3)
    model.pre_epoch()
    first = model.masked_adj.to_dense()
    torch.manual_seed(3)
    model.pre_epoch()
    assert torch.equal(first, model.masked_adj.to_dense())
    n_edges = int((first[: data.n_users] > 0).sum())
    assert n_edges == int(data.train.nnz * (1.0 - 0.8))  # 62 of 315: int() as the reference


def test_freedom_errors_and_registry():
    data = synthetic_interactions(30, 20, seed=1)
    with pytest.raises(ValueError, match="at least one feature"):
        FREEDOM(data.train, {})
    with pytest.raises(ValueError, match="extract them first"):
        FREEDOM(data.train, {"text": np.ones((20, 3), "f4")}, modalities=("image",))
    with pytest.raises(ValueError, match="dropout"):
        FREEDOM(data.train, {"text": np.ones((20, 3), "f4")}, dropout=1.0)
    data.features = {"text": np.random.default_rng(0).normal(size=(20, 4)).astype("f4")}
    assert isinstance(build_model("freedom", data), FREEDOM)
    assert isinstance(build_model("vbpr", data), VBPR)


@pytest.mark.parametrize("name", ["vbpr", "freedom"])
def test_seeded_runs_reproduce(name):
    data = synthetic_interactions(120, 60, seed=5)
    rng = np.random.default_rng(1)
    data.features = {"text": rng.normal(size=(60, 8)).astype("f4"), "image": rng.normal(size=(60, 6)).astype("f4")}
    config = TrainConfig(max_epochs=3, batch_size=256, progress=False)
    r1 = train(build_model(name, data), data, config, seed=7)
    r2 = train(build_model(name, data), data, config, seed=7)
    assert r1["metrics"]["test"] == r2["metrics"]["test"]
    assert [h["loss"] for h in r1["body"]["history"]] == [h["loss"] for h in r2["body"]["history"]]
    assert r1["body"]["history"][-1]["loss"] < r1["body"]["history"][0]["loss"]  # it learns
    r3 = train(build_model(name, data), data, config, seed=8)
    assert r3["body"]["history"][0]["loss"] != r1["body"]["history"][0]["loss"]


def test_mm_run_settings_parser():
    import argparse

    from mmrs.experiments.common import parse_settings

    assert parse_settings(["dropout=0.8", "reg_weight=1e-3", "modalities=('text',)"], "freedom") == {
        "dropout": 0.8, "reg_weight": 0.001, "modalities": ("text",)
    }
    with pytest.raises(argparse.ArgumentTypeError, match="KEY=VALUE"):
        parse_settings(["dropout"])
    with pytest.raises(argparse.ArgumentTypeError, match="not a Python literal"):
        parse_settings(["modalities=text"])
    with pytest.raises(argparse.ArgumentTypeError, match="valid keys: .*reg_weight"):
        parse_settings(["dropuot=0.8"], "freedom")


def test_neighbour_and_chance_agreement_by_hand():
    from mmrs.chapters.feature_models import chance_agreement, neighbour_agreement

    # edges 0->1 (a, a: agree), 1->2 (a, b: no), 2->0 (b, a: no), self loops ignored
    g = sp.csr_matrix(([1.0] * 6, ([0, 1, 2, 0, 1, 2], [1, 2, 0, 0, 1, 2])), shape=(3, 3))
    assert neighbour_agreement(g, np.array(["a", "a", "b"])) == pytest.approx(1 / 3)
    # labels a, a, b: 2 ordered same-label pairs of 6 -> 1/3; a, a, a, b: 6 of 12 -> 1/2
    assert chance_agreement(np.array(["a", "a", "b"])) == pytest.approx(1 / 3)
    assert chance_agreement(np.array(["a", "a", "a", "b"])) == pytest.approx(1 / 2)
    weighted = sp.csr_matrix(([3.0, 1.0], ([0, 1], [1, 2])), shape=(3, 3))  # 3 * agree + 1 * not
    assert neighbour_agreement(weighted, np.array(["a", "a", "b"])) == pytest.approx(3 / 4)
    with pytest.raises(ValueError, match="no edges"):
        neighbour_agreement(sp.eye(3), np.array(["a", "b", "c"]))


def test_keep_rates_follow_the_pruning_weights():
    from mmrs.chapters.feature_models import keep_rates

    data = synthetic_interactions(80, 40, seed=2)
    rates = keep_rates(data.train, dropout=0.8, n_draws=40, seed=0)
    assert len(rates) == data.train.nnz
    assert rates["kept"].mean() == pytest.approx(int(data.train.nnz * (1.0 - 0.8)) / data.train.nnz)
    low, high = rates["weight"] <= rates["weight"].quantile(0.25), rates["weight"] >= rates["weight"].quantile(0.75)
    assert rates.loc[high, "kept"].mean() > 1.5 * rates.loc[low, "kept"].mean()
