"""LATTICE and BUIR: the weighted kNN graph and LATTICE's graph mixing by hand, MMRec's
row-normalised user–item graph, LATTICE against a dense MMRec-style reference in float64, BUIR's
gradient-free momentum target, its loss and scores by hand, seeded reproducibility and the CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mmrs import cli, records
from mmrs.data import synthetic_interactions, synthetic_pairs
from mmrs.graph import knn_graph, random_walk_adjacency_scipy
from mmrs.models import build_model
from mmrs.models.buir import BUIR, buir_loss, momentum_update
from mmrs.models.lattice import LATTICE, knn_entries, normalize_entries
from mmrs.models.lattice_reference import ReferenceLATTICE
from mmrs.train import TrainConfig, train

torch.set_num_threads(1)

X = np.array([[1.0, 0.0], [2.0, 1.0], [0.0, 1.0]], dtype=np.float32)
# norms 1, √5, 1: cos(0,1) = 2/√5 = .8944, cos(0,2) = 0, cos(1,2) = 1/√5 = .4472


def dense(entries, n):
    rows, cols, values = (t.detach() for t in entries)
    out = torch.zeros(n, n, dtype=values.dtype)
    out.index_put_((rows, cols), values, accumulate=True)
    return out


def test_weighted_knn_graph_and_its_normalisation_by_hand():
    a = dense(knn_entries(torch.from_numpy(X), 2), 3)
    c01, c12 = 2 / math.sqrt(5), 1 / math.sqrt(5)
    # each row keeps itself (cos 1) and its nearest other item, with the cosine as weight
    expected = torch.tensor([[1.0, c01, 0.0], [c01, 1.0, 0.0], [0.0, c12, 1.0]])
    assert torch.allclose(a, expected, atol=1e-6)
    n = dense(normalize_entries(knn_entries(torch.from_numpy(X), 2), 3), 3)
    d = [1 + c01, 1 + c01, 1 + c12]  # row sums 1.8944, 1.8944, 1.4472
    assert n[0, 1].item() == pytest.approx(c01 / math.sqrt(d[0] * d[1]), abs=1e-6)  # .4721
    assert n[2, 1].item() == pytest.approx(c12 / math.sqrt(d[2] * d[1]), abs=1e-6)  # .2701
    assert n[2, 2].item() == pytest.approx(1 / d[2], abs=1e-6)  # .6910
    assert n[0, 2].item() == 0.0
    # FREEDOM's binary graph has the same pattern
    assert np.array_equal(knn_graph(X, 2).toarray(), (expected > 0).numpy().astype("f4"))


def test_knn_values_carry_gradients_only_through_kept_pairs():
    x = torch.from_numpy(X.copy()).requires_grad_(True)
    rows, cols, values = knn_entries(x, 2)
    values.sum().backward()
    # item 0's kept other neighbour is item 1: d cos(x0, x1)/d x0 = x̂1/‖x0‖ − cos x0/‖x0‖²
    #   = [2, 1]/√5 − (2/√5)[1, 0] = [0, 1/√5] (counted twice: row 0 and row 1 keep the pair)
    g0 = x.grad[0]
    assert torch.allclose(g0, torch.tensor([0.0, 2 / math.sqrt(5)]), atol=1e-6)


def test_random_walk_adjacency_with_self_loops_by_hand():
    r = sp.csr_matrix(np.array([[1, 1], [0, 1]], dtype=np.float32))
    p = random_walk_adjacency_scipy(r).toarray()
    # nodes u0 u1 i0 i1; A + I rows: u0 {u0, i0, i1} -> 1/3 each; u1 {u1, i1} -> 1/2;
    # i0 {u0, i0} -> 1/2; i1 {u0, u1, i1} -> 1/3
    third, half = 1 / 3, 1 / 2
    expected = np.array([
        [third, 0, third, third],
        [0, half, 0, half],
        [half, 0, half, 0],
        [third, third, 0, third],
    ])
    assert np.allclose(p, expected)
    assert not np.allclose(p, p.T)  # not symmetric: the backward pass needs Pᵀ


def tiny_lattice(lambda_coeff=0.9) -> LATTICE:
    train_m = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1]], dtype=np.float32))
    model = LATTICE(train_m, {"image": X}, embedding_dim=2, feat_embed_dim=2, knn_k=2,
                    lambda_coeff=lambda_coeff)
    with torch.no_grad():  # projection h = x diag(1, 3): rows [1, 0], [2, 3], [0, 3]
        model.projections["image"].weight.copy_(torch.diag(torch.tensor([1.0, 3.0])))
        model.projections["image"].bias.zero_()
    return model


def test_graph_mixing_update_rule_by_hand():
    model = tiny_lattice(lambda_coeff=0.9)
    s = dense(model.item_graph(), 3)
    # learned kNN of h: cos(0,1) = 2/√13 = .5547, cos(1,2) = 9/(3√13) = .8321, cos(0,2) = 0
    #   row 0 keeps {0: 1, 1: .5547}; rows 1 and 2 keep {1, 2} with weights 1 and .8321
    a, b = 2 / math.sqrt(13), 3 / math.sqrt(13)
    dl = [1 + a, 1 + b, 1 + b]  # row sums 1.5547, 1.8321, 1.8321
    learned = {(0, 0): 1 / dl[0], (0, 1): a / math.sqrt(dl[0] * dl[1]), (1, 1): 1 / dl[1],
               (1, 2): b / dl[1], (2, 1): b / dl[1], (2, 2): 1 / dl[2]}
    # original kNN of x (previous test): {(0,0): 1, (0,1): c01, (1,0): c01, (1,1): 1, (2,1): c12, (2,2): 1}
    c01, c12 = 2 / math.sqrt(5), 1 / math.sqrt(5)
    do = [1 + c01, 1 + c01, 1 + c12]
    original = {(0, 0): 1 / do[0], (0, 1): c01 / do[0], (1, 0): c01 / do[0], (1, 1): 1 / do[1],
                (2, 1): c12 / math.sqrt(do[2] * do[1]), (2, 2): 1 / do[2]}
    for i in range(3):
        for j in range(3):
            # S = (1 − λ) Â + λ S̃, e.g. S[0,0] = .1 × .6432 + .9 × .5279 = .5395, S[1,0] = .9 × .4721
            want = 0.1 * learned.get((i, j), 0.0) + 0.9 * original.get((i, j), 0.0)
            assert s[i, j].item() == pytest.approx(want, abs=1e-6), (i, j)
    assert s[1, 0].item() == pytest.approx(0.9 * c01 / do[0], abs=1e-6)  # only in the original
    # λ = 1: the original graph alone; λ = 0: the learned one alone
    assert torch.allclose(dense(tiny_lattice(1.0).item_graph(), 3), dense(
        normalize_entries(knn_entries(torch.from_numpy(X), 2), 3), 3), atol=1e-6)
    assert dense(tiny_lattice(0.0).item_graph(), 3)[1, 0].item() == 0.0


def test_lattice_learning_rate_schedule():
    model = tiny_lattice()
    assert model.lr_factor(0) == 1.0
    assert model.lr_factor(50) == pytest.approx(0.96)  # 0.96^(50/50)
    assert model.lr_factor(25) == pytest.approx(math.sqrt(0.96))


@pytest.fixture(scope="module")
def data():
    data = synthetic_interactions(30, 40, seed=1)
    rng = np.random.default_rng(0)
    data.features = {"image": rng.normal(size=(40, 12)).astype("f4"),
                     "text": rng.normal(size=(40, 7)).astype("f4")}
    return data


@pytest.mark.parametrize("modalities", [("image", "text"), ("text",)])
def test_lattice_equals_the_dense_mmrec_style_reference(data, modalities):
    torch.manual_seed(0)
    ours = LATTICE(data.train, data.features, modalities, embedding_dim=8, feat_embed_dim=8,
                   knn_k=4, reg_weight=1e-3, reg_batch_size=16).double()
    ref = ReferenceLATTICE(data.train, data.features, modalities, embedding_dim=8,
                           feat_embed_dim=8, knn_k=4, reg_weight=1e-3, reg_batch_size=16).double()
    ref.load_state_dict(ours.state_dict())
    # float64 throughout, except the original graphs S̃_m, which both build once from the float32
    # features (ours stores them in float32, as MMRec): hence tolerances of ~1e-7, not 1e-12
    users, items = data.pairs("train")
    gen = torch.Generator().manual_seed(1)
    opt_a = torch.optim.Adam(ours.parameters(), lr=0.01)
    opt_b = torch.optim.Adam(ref.parameters(), lr=0.01)
    for _epoch in range(2):
        ours.pre_epoch()
        ref.pre_epoch()
        for start in (0, 16, 32):  # first batch re-learns the graph (gradients to W_m, e_m, w)
            u = torch.from_numpy(users[start : start + 16])
            i = torch.from_numpy(items[start : start + 16])
            j = torch.randint(0, 40, (len(u),), generator=gen)
            opt_a.zero_grad(set_to_none=True)
            opt_b.zero_grad(set_to_none=True)
            la, lb = ours.calculate_loss(u, i, j), ref.calculate_loss(u, i, j)
            la.backward()
            lb.backward()
            assert la.item() == pytest.approx(lb.item(), abs=1e-7)
            for (name, pa), (_, pb) in zip(ours.named_parameters(), ref.named_parameters(), strict=True):
                if pa.grad is None or pb.grad is None:  # graph held constant after the first batch
                    assert pa.grad is None and pb.grad is None, name
                    assert name.startswith(("projections", "feat_tables", "modal_weight")), name
                    # the modality weights matter only with two modalities
                    assert start > 0 or (name == "modal_weight" and len(modalities) == 1), name
                else:
                    assert torch.allclose(pa.grad, pb.grad, atol=1e-7), name
            opt_a.step()
            opt_b.step()
    for (name, pa), (_, pb) in zip(ours.named_parameters(), ref.named_parameters(), strict=True):
        assert torch.allclose(pa, pb, atol=1e-6), name
    ours.eval()
    ref.eval()
    assert torch.allclose(ours.score_users(torch.arange(10)), ref.score_users(torch.arange(10)),
                          atol=1e-6)


# ---------------------------------------------------------------- BUIR


def test_buir_loss_by_hand():
    # p_u = [1, 0], t_i = [1, 1]: cos = 1/√2 -> 2 − √2 = .5858; p_i = [0, 2], t_u = [3, 0]: cos 0 -> 2
    loss = buir_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]]),
                     torch.tensor([[0.0, 2.0]]), torch.tensor([[3.0, 0.0]]))
    assert loss.item() == pytest.approx(2 - math.sqrt(2) + 2, abs=1e-6)


def test_momentum_update_by_hand():
    target, online = torch.tensor([1.0, 2.0]), torch.tensor([3.0, -2.0])
    momentum_update(target, online, 0.9)
    # 0.9 × [1, 2] + 0.1 × [3, −2] = [1.2, 1.6]
    assert torch.allclose(target, torch.tensor([1.2, 1.6]))


def test_buir_target_gets_no_gradient_and_follows_the_online_encoder(data):
    torch.manual_seed(0)
    model = BUIR(data.train, embedding_dim=8, n_layers=2, momentum=0.9)
    assert torch.equal(model.target_user_embedding, model.user_embedding)  # starts as a copy
    assert all(not b.requires_grad for b in model.buffers())
    assert {n for n, _ in model.named_parameters()} == {
        "user_embedding", "item_embedding", "predictor.weight", "predictor.bias"}
    before = model.target_item_embedding.clone()
    users, items = (torch.from_numpy(a[:20]) for a in data.pairs("train"))
    loss = model.calculate_loss(users, items, None)
    loss.backward()
    assert model.target_item_embedding.grad is None and model.target_user_embedding.grad is None
    assert torch.equal(model.target_item_embedding, before)  # backward leaves it alone
    assert model.item_embedding.grad is not None and model.item_embedding.grad.abs().sum() > 0
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    opt.step()
    online = model.item_embedding.detach().clone()
    assert not torch.equal(online, before)
    model.after_step()
    assert torch.allclose(model.target_item_embedding, 0.9 * before + 0.1 * online)


def test_buir_weight_decay_term_and_scores(data):
    torch.manual_seed(0)
    model = BUIR(data.train, embedding_dim=4, n_layers=1, weight_decay=0.5)
    users, items = (torch.from_numpy(a[:10]) for a in data.pairs("train"))
    terms = model.loss_terms(users, items)
    l2 = 0.5 * sum(float(p.detach().pow(2).sum()) for p in model.parameters())
    assert terms["l2"].item() == pytest.approx(l2, rel=1e-6)
    assert terms["total"].item() == pytest.approx(terms["bootstrap"].item() + 0.5 * l2, rel=1e-6)
    model.eval()
    hu, hi = model.forward()
    q = model.predictor
    want = q(hu[:3]) @ hi.T + hu[:3] @ q(hi).T  # q(f(u))·f(i) + f(u)·q(f(i))
    assert torch.allclose(model.score_users(torch.arange(3)), want, atol=1e-6)


@pytest.mark.parametrize("name", ["lattice", "buir"])
def test_seeded_runs_reproduce(data, name):
    hp = {"embedding_dim": 8, **({"feat_embed_dim": 8, "knn_k": 4} if name == "lattice" else {})}
    config = TrainConfig(max_epochs=2, patience=5, batch_size=64, progress=False, ks=(5, 20))
    runs = [train(build_model(name, data, **hp), data, config, seed=7) for _ in range(2)]
    assert runs[0]["metrics"] == runs[1]["metrics"]
    assert [h["loss"] for h in runs[0]["body"]["history"]] == [
        h["loss"] for h in runs[1]["body"]["history"]]
    other = train(build_model(name, data, **hp), data, config, seed=8)
    assert other["body"]["history"][0]["loss"] != runs[0]["body"]["history"][0]["loss"]


def test_cli_trains_buir(tmp_path, capsys):
    folder = tmp_path / "toy"
    folder.mkdir()
    users, items = synthetic_pairs(40, 60, seed=0)
    lines = "".join(f"{u}\t{i}\n" for u, i in zip(users, items, strict=True))
    (folder / "toy.inter").write_text("userID\titemID\n" + lines)
    out = tmp_path / "buir.json"
    code = cli.main(["train", "--model", "buir", "--dataset", str(folder), "--out", str(out),
                     "--max-epochs", "1", "--batch-size", "64", "--torch-threads", "1",
                     "--no-progress", "--set", "momentum=0.99"])
    assert code == 0
    record = records.load(out)
    assert record["model"] == "buir"
    assert record["config"]["model"]["momentum"] == 0.99
    assert record["body"]["epochs_run"] == 1


@pytest.mark.parametrize("name", ["lattice", "buir"])
def test_fit_applies_a_models_learning_rate_schedule(data, name, monkeypatch):
    seen: list[float] = []
    original = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    hp = {"embedding_dim": 4}
    if name == "lattice":  # lr × 0.5^(epoch / 1): 1e-3 in epoch 0, 5e-4 in epoch 1
        hp.update(feat_embed_dim=4, knn_k=3, lr_decay=0.5, lr_decay_step=1)
    config = TrainConfig(max_epochs=2, patience=5, batch_size=64, progress=False, ks=(5, 20))
    train(build_model(name, data, **hp), data, config, seed=1)
    per_epoch = len(seen) // 2  # 247 training pairs -> 4 batches of 64 per epoch
    assert per_epoch == 4
    second = 5e-4 if name == "lattice" else 1e-3  # BUIR has no schedule
    assert seen[:per_epoch] == [1e-3] * per_epoch
    assert seen[per_epoch:] == pytest.approx([second] * per_epoch)
