"""MMGCN, GRCN and DualGNN: propagations and losses by hand on tiny graphs, equivalence with
MMRec-structured PyG references (float64), gradients, seeded runs, and the command line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mmrs import cli
from mmrs.data import synthetic_interactions, synthetic_pairs
from mmrs.graph import bipartite_edge_index
from mmrs.models import MODELS, build_model
from mmrs.models.dualgnn import DualGNN, co_occurrence_neighbours, sample_user_graph
from mmrs.models.grcn import GRCN, attention_layer, weighted_sum
from mmrs.models.mm_gnn_reference import dualgnn_reference, grcn_reference, mmgcn_reference
from mmrs.models.mmgcn import MMGCN
from mmrs.train import TrainConfig, train

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")

E = math.e
NAMES = ("mmgcn", "grcn", "dualgnn")


def tiny_features(n_items: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"image": rng.normal(size=(n_items, 6)).astype("f4"),
            "text": rng.normal(size=(n_items, 5)).astype("f4")}


def small_data(n_users: int = 40, n_items: int = 25, seed: int = 6):
    data = synthetic_interactions(n_users, n_items, seed=seed)
    data.features = tiny_features(n_items)
    return data


def batch(data, n: int = 16) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    users, pos = (torch.from_numpy(a[:n]) for a in data.pairs("train"))
    return users, pos, (pos + 1) % data.n_items


# ---------------------------------------------------------------- edges


def test_bipartite_edge_index_by_hand():
    r = sp.csr_matrix(np.array([[1, 1, 0], [0, 0, 1]], dtype="f4"))  # u0-i0, u0-i1, u1-i2
    e = bipartite_edge_index(r)  # items are nodes 2, 3, 4
    assert e.tolist() == [[0, 0, 1, 2, 3, 4], [2, 3, 4, 0, 0, 1]]
    assert bipartite_edge_index(r, both_directions=False).tolist() == [[0, 0, 1], [2, 3, 4]]


# ---------------------------------------------------------------- MMGCN


def tiny_mmgcn(**kwargs) -> MMGCN:
    """1 user linked to 2 items; raw 2-d image features; one layer with W_conv = I, W_lin = 0,
    additive combiner W_g = I, zero ID embeddings: x^1 = lrelu(lrelu(mean of neighbours' x^0))."""
    train = sp.csr_matrix(np.array([[1.0, 1.0]], dtype="f4"))
    feats = {"image": np.array([[1.0, 0.0], [0.0, -2.0]], dtype="f4")}
    model = MMGCN(train, feats, image_latent_dim=0, n_layers=1, concat=False, embedding_dim=2,
                  **kwargs)
    g = model.gcns["image"]
    with torch.no_grad():
        g.preference.copy_(torch.tensor([[3.0, 4.0]]))
        g.conv[0].copy_(torch.eye(2))
        g.linear[0].weight.zero_()
        g.linear[0].bias.zero_()
        g.gate[0].weight.copy_(torch.eye(2))
        g.gate[0].bias.zero_()
        model.id_embedding.zero_()
    return model


def test_mmgcn_layer_by_hand():
    z = tiny_mmgcn().forward()
    # x^0 = normalize: p = [0.6, 0.8], f_0 = [1, 0], f_1 = [0, -1]
    # user: mean(f_0, f_1) = [0.5, -0.5]; lrelu -> [0.5, -0.005]; lrelu again -> [0.5, -0.00005]
    # items: their one neighbour is the user: lrelu(lrelu([0.6, 0.8])) = [0.6, 0.8]
    expected = torch.tensor([[0.5, -0.00005], [0.6, 0.8], [0.6, 0.8]])
    assert torch.allclose(z, expected, atol=1e-7)


def test_mmgcn_loss_by_hand():
    model = tiny_mmgcn(reg_weight=0.1)
    loss = model.calculate_loss(torch.tensor([0]), torch.tensor([0]), torch.tensor([1]))
    # both items have z = [0.6, 0.8]: s_ui - s_uj = 0 -> -log σ(0) = ln 2 = 0.693147
    # reg: ID rows are 0; image preference mean((3² + 4²) / 2) = 12.5 -> 0.1 * 12.5 = 1.25
    assert float(loss) == pytest.approx(math.log(2) + 1.25, abs=1e-6)


def test_mmgcn_matches_reference():
    data = small_data()
    users, pos, neg = batch(data)
    for kwargs in ({}, {"concat": False, "n_layers": 2}, {"modalities": ("text",)}):
        torch.manual_seed(0)
        model = build_model("mmgcn", data, image_latent_dim=4, reg_weight=0.01, **kwargs).double()
        z_ref, loss_ref = mmgcn_reference(model, data.train, users, pos, neg)
        assert torch.allclose(model.forward(), z_ref, atol=1e-7)  # D^-1 stored in float32
        assert float(model.calculate_loss(users, pos, neg)) == pytest.approx(float(loss_ref), abs=1e-7)


def test_mmgcn_gradients():
    data = small_data()
    users, pos, neg = batch(data)
    model = build_model("mmgcn", data, image_latent_dim=4)
    model.calculate_loss(users, pos, neg).backward()
    # MMRec: the ID and preference tables are not parameters the optimizer updates
    assert model.id_embedding.grad is None
    assert all(g.preference.grad is None for g in model.gcns.values())
    for g in model.gcns.values():
        assert g.conv[0].grad.abs().sum() > 0 and g.gate[-1].weight.grad.abs().sum() > 0
    assert model.gcns["image"].mlp.weight.grad.abs().sum() > 0
    trainable = build_model("mmgcn", data, image_latent_dim=4, trainable_embeddings=True)
    trainable.calculate_loss(users, pos, neg).backward()
    assert trainable.id_embedding.grad.abs().sum() > 0
    assert trainable.gcns["text"].preference.grad.abs().sum() > 0


# ---------------------------------------------------------------- GRCN


def test_grcn_attention_by_hand():
    # nodes u0, u1, i0 (= node 2); edges u0->i0, u1->i0 and back
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    src, dst = torch.tensor([0, 1, 2, 2]), torch.tensor([2, 2, 0, 1])
    out, alpha = attention_layer(x, src, dst)
    # into i0: x_i0·x_u0 = 1, x_i0·x_u1 = 0 -> softmax [e/(e+1), 1/(e+1)] = [0.731059, 0.268941]
    # users have one incoming edge each (from i0): α = 1
    a = E / (E + 1)
    assert torch.allclose(alpha, torch.tensor([a, 1 - a, 1.0, 1.0]))
    # out = x + Σ α x_src: i0 = [1, 0] + a [1, 0] + (1-a) [0, 1]; u0 = [1,0]+[1,0]; u1 = [0,1]+[1,0]
    assert torch.allclose(out, torch.tensor([[2.0, 0.0], [1.0, 1.0], [1 + a, 1 - a]]))
    # these edges are 2 edges then the same reversed: the paired path reuses the dot products
    out_paired, alpha_paired = attention_layer(x, src, dst, paired=True)
    assert torch.equal(out_paired, out) and torch.equal(alpha_paired, alpha)


def test_grcn_edge_weights_and_refined_gcn_by_hand():
    train = sp.csr_matrix(np.array([[1.0, 1.0]], dtype="f4"))  # u0 - i0 (node 1), u0 - i1 (node 2)
    model = GRCN(train, {"image": np.ones((2, 3), "f4"), "text": np.ones((2, 2), "f4")})
    assert model.edge_src.tolist() == [0, 0, 1, 2] and model.edge_dst.tolist() == [1, 2, 0, 0]
    with torch.no_grad():
        model.confidence.copy_(torch.tensor([[1.0, -1.0], [-1.0, -1.0], [-2.0, 0.5]]))
    a_v, a_t = torch.tensor([0.2, 0.8, 0.3, 0.4]), torch.tensor([0.5, 0.5, 0.1, 0.6])
    w = model.edge_weights([a_v, a_t])
    # κ of each edge's source: u0 [1, -1], u0, i0 [-1, -1], i1 [-2, 0.5]
    # max(0.2, -0.5) = 0.2; max(0.8, -0.5) = 0.8; max(-0.3, -0.1) = -0.1 -> relu 0; max(-0.8, 0.3) = 0.3
    assert torch.allclose(w, torch.tensor([0.2, 0.8, 0.0, 0.3]))
    e = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = weighted_sum(e, model.edge_src, model.edge_dst, w)
    # i0 <- 0.2 e_u0 = [0.2, 0]; i1 <- 0.8 e_u0 = [0.8, 0]; u0 <- 0 e_i0 + 0.3 e_i1 = [0.3, 0.3]
    assert torch.allclose(y, torch.tensor([[0.3, 0.3], [0.2, 0.0], [0.8, 0.0]]))


def test_grcn_loss_by_hand(monkeypatch):
    train = sp.csr_matrix(np.array([[1.0, 1.0]], dtype="f4"))
    model = GRCN(train, {"image": np.ones((2, 3), "f4"), "text": np.ones((2, 2), "f4")},
                 embedding_dim=1, latent_dim=1, reg_weight=0.5)
    with torch.no_grad():
        model.id_embedding.copy_(torch.tensor([[1.0], [2.0], [0.0]]))
        model.preferences["image"].fill_(2.0)
        model.preferences["text"].fill_(1.0)
    z = torch.tensor([[1.0, 1.0], [2.0, 0.0], [0.0, 0.0]])
    monkeypatch.setattr(model, "forward", lambda: z)
    loss = model.calculate_loss(torch.tensor([0]), torch.tensor([0]), torch.tensor([1]))
    # s_ui = 2, s_uj = 0 -> -log σ(2) = log(1 + e^-2) = 0.126928
    # reg: E[u0]² = 1; mean(E[i0]², E[i1]²) = (4 + 0) / 2 = 2; mean(P^v²) = 4 (whole table);
    #      P^v[u0]² = 4; P^t[u0]² = 1 -> 1 + 2 + 4 + 4 + 1 = 12; λ = 0.5 -> 6
    assert float(loss) == pytest.approx(math.log1p(math.exp(-2.0)) + 6.0, abs=1e-6)


@pytest.mark.parametrize("weight_mode", ["confid", "mean", "max"])
def test_grcn_matches_reference(weight_mode):
    data = small_data()
    users, pos, neg = batch(data)
    torch.manual_seed(0)
    model = build_model("grcn", data, weight_mode=weight_mode, reg_weight=0.01).double()
    z_ref, loss_ref = grcn_reference(model, data.train, users, pos, neg)  # routing rounds included
    assert torch.allclose(model.forward(), z_ref, atol=1e-10)
    assert float(model.calculate_loss(users, pos, neg)) == pytest.approx(float(loss_ref), abs=1e-10)


def test_grcn_gradients():
    data = small_data()
    users, pos, neg = batch(data)
    model = build_model("grcn", data)
    model.calculate_loss(users, pos, neg).backward()
    for p in (model.id_embedding, model.confidence, model.preferences["image"],
              model.preferences["text"], model.projections["text"].weight):
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert not any(p is model.features_image for p in model.parameters())  # features stay fixed


# ---------------------------------------------------------------- DualGNN


def test_user_graph_by_hand():
    # u0: {i0, i1}, u1: {i0, i1, i2}, u2: {i2}, u3: {i3}
    r = sp.csr_matrix((np.ones(7, "f4"), ([0, 0, 1, 1, 1, 2, 3], [0, 1, 0, 1, 2, 2, 3])), shape=(4, 4))
    index, count, n = co_occurrence_neighbours(r, k=2)
    # C = R Rᵀ off the diagonal: C01 = 2, C12 = 1, C02 = 0; u3 shares nothing
    assert n.tolist() == [1, 2, 1, 0]
    assert index[:3].tolist() == [[1, 0], [0, 2], [1, 0]] and count[1].tolist() == [2.0, 1.0]
    idx, beta = sample_user_graph(*(torch.from_numpy(a) for a in (index, count, n)), "softmax")
    # u0 and u2 have one neighbour: position 1 copies position ⌊ρ·1⌋ = 0 -> [1, 1], β = [0.5, 0.5]
    assert idx[0].tolist() == [1, 1] and idx[2].tolist() == [1, 1]
    a = E / (E + 1)  # u1: softmax(2, 1) = [e/(e+1), 1/(e+1)]
    assert torch.allclose(beta, torch.tensor([[0.5, 0.5], [a, 1 - a], [0.5, 0.5], [0.0, 0.0]]))


def test_user_graph_padding_is_seeded_and_copies_earlier_entries():
    index = torch.tensor([[3, 5, 0, 0, 0, 0]])
    count = torch.tensor([[2.0, 1.0, 0, 0, 0, 0]])
    draws = set()
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        idx, _ = sample_user_graph(index, count, torch.tensor([2]), "softmax", g)
        assert set(idx[0].tolist()) <= {3, 5} and idx[0, :2].tolist() == [3, 5]
        again, _ = sample_user_graph(index, count, torch.tensor([2]), "softmax",
                                     torch.Generator().manual_seed(seed))
        assert torch.equal(idx, again)
        draws.add(tuple(idx[0].tolist()))
    assert len(draws) > 1  # the padding is random


def test_dualgnn_fusion_and_loss_by_hand(monkeypatch):
    train = sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 1.0]], dtype="f4"))  # u0-i0, u1-i0, u1-i1
    model = DualGNN(train, {"image": np.ones((2, 3), "f4"), "text": np.ones((2, 2), "f4")},
                    embedding_dim=1, knn_k=1, reg_weight=0.0)
    g = {"image": torch.tensor([[1.0], [2.0], [3.0], [4.0]]),
         "text": torch.tensor([[10.0], [20.0], [30.0], [40.0]])}
    monkeypatch.setattr(model, "modality_graph", lambda m: g[m])
    with torch.no_grad():
        model.weight_u.copy_(torch.tensor([[[0.25], [0.75]], [[0.5], [0.5]]]))
    z_u, z_i = model.forward()
    # ĝ_u0 = 0.25 (1 + 10) + 0.75 · 10 = 10.25; ĝ_u1 = 0.5 (2 + 20) + 0.5 · 20 = 21
    # each user's one neighbour (k = 1, β = 1) is the other: z_u0 = 10.25 + 21, z_u1 = 21 + 10.25
    assert z_u[:, 0].tolist() == [31.25, 31.25]
    assert z_i[:, 0].tolist() == [33.0, 44.0]  # g^v + g^t of the items
    monkeypatch.setattr(model, "forward", lambda: (torch.tensor([[1.0]]), torch.tensor([[1.0], [0.0]])))
    loss = model.calculate_loss(torch.tensor([0]), torch.tensor([0]), torch.tensor([1]))
    # -log₂ σ(1 - 0) = log(1 + e^-1) / ln 2 = 0.313262 / 0.693147 = 0.451941
    assert float(loss) == pytest.approx(math.log1p(math.exp(-1.0)) / math.log(2), abs=1e-6)
    model.reg_weight = 0.5
    loss = model.calculate_loss(torch.tensor([0]), torch.tensor([0]), torch.tensor([1]))
    reg = float(model.preferences["image"][0].pow(2).mean() + model.preferences["text"][0].pow(2).mean()
                + model.weight_u.pow(2).mean() + model.weight_i.pow(2).mean())
    assert float(loss) == pytest.approx(math.log1p(math.exp(-1.0)) / math.log(2) + 0.5 * reg, abs=1e-6)


@pytest.mark.parametrize("modalities", [None, ("image",)])
def test_dualgnn_matches_reference(modalities):
    data = small_data()
    users, pos, neg = batch(data)
    torch.manual_seed(0)
    model = build_model("dualgnn", data, knn_k=5, reg_weight=0.01, modalities=modalities).double()
    torch.manual_seed(1)
    model.pre_epoch()
    torch.manual_seed(1)
    index, beta = sample_user_graph(model.nbr_index, model.nbr_count, model.nbr_n, "softmax")
    ref, loss_ref = dualgnn_reference(model, data.train, users, pos, neg, index, beta)
    assert torch.allclose(torch.cat(model.forward()), ref, atol=1e-7)  # Â stored in float32
    assert float(model.calculate_loss(users, pos, neg)) == pytest.approx(float(loss_ref), abs=1e-7)


def test_dualgnn_gradients():
    data = small_data()
    users, pos, neg = batch(data)
    model = build_model("dualgnn", data)
    model.calculate_loss(users, pos, neg).backward()
    for p in (model.weight_u, model.preferences["image"], model.mlps["text"][0].weight):
        assert p.grad.abs().sum() > 0
    # w_I enters only the penalty: its gradient is λ · 2 w_I / numel
    assert torch.allclose(model.weight_i.grad, 1e-3 * 2 * model.weight_i.detach() / model.weight_i.numel())


# ---------------------------------------------------------------- all three


@pytest.mark.parametrize("name", NAMES)
def test_seeded_runs_reproduce(name):
    data = synthetic_interactions(120, 60, seed=5)
    data.features = tiny_features(60, seed=1)
    config = TrainConfig(max_epochs=2, batch_size=256, progress=False)
    r1 = train(build_model(name, data), data, config, seed=7)
    r2 = train(build_model(name, data), data, config, seed=7)
    assert r1["metrics"]["test"] == r2["metrics"]["test"]
    assert [h["loss"] for h in r1["body"]["history"]] == [h["loss"] for h in r2["body"]["history"]]
    r3 = train(build_model(name, data), data, config, seed=8)
    assert r3["body"]["history"][0]["loss"] != r1["body"]["history"][0]["loss"]


@pytest.mark.parametrize("name", NAMES)
def test_registry_and_errors(name):
    assert name in MODELS and name in cli.MODEL_NAMES
    data = synthetic_interactions(30, 20, seed=1)
    data.features = {}
    with pytest.raises(ValueError, match="at least one feature"):
        build_model(name, data)
    data.features = {"text": np.ones((20, 3), "f4")}
    with pytest.raises(ValueError, match="extract them first"):
        build_model(name, data, modalities=("image",))
    with pytest.raises(ValueError, match="reg_weight"):
        build_model(name, data, reg_weight=-1.0)


@pytest.mark.parametrize("name", NAMES)
def test_train_command(tmp_path, capsys, name):
    folder = tmp_path / "toy"
    folder.mkdir()
    users, items = synthetic_pairs(40, 60, seed=0)
    (folder / "toy.inter").write_text(
        "userID\titemID\n" + "".join(f"{u}\t{i}\n" for u, i in zip(users, items, strict=True)))
    for m, arr in tiny_features(60).items():
        np.save(folder / f"{m}_feat.npy", arr)
    out = tmp_path / f"{name}.json"
    code = cli.main(["train", "--model", name, "--dataset", str(folder), "--profile", "ci",
                     "--max-epochs", "1", "--out", str(out), "--no-progress", "--torch-threads", "1"])
    assert code in (0, None), capsys.readouterr().err
    record = json.loads(out.read_text())
    assert record["model"]["name"] == name if isinstance(record["model"], dict) else record["model"] == name
    assert record["body"]["epochs_run"] == 1
