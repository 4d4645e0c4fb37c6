"""The speed-ups of the trainer and the evaluation leave the numbers unchanged.

* :func:`mmrs.train.make_optimizer` (fused Adam) gives the parameters plain ``torch.optim.Adam``
  gives, after three steps of each model that has trainable feature tables or graphs;
* :func:`mmrs.metrics.full_ranking_topk` ranks in blocks of at most
  :data:`~mmrs.metrics.SCORE_BLOCK_ELEMENTS` scores: the same top-k lists as one block per batch.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmrs import metrics
from mmrs.data.synthetic import synthetic_interactions
from mmrs.metrics import full_ranking_topk, topk_scores
from mmrs.models import BPR, LightGCN
from mmrs.models.bm3 import BM3
from mmrs.models.freedom import FREEDOM
from mmrs.models.vbpr import VBPR
from mmrs.train import make_optimizer


@pytest.fixture(scope="module")
def data():
    return synthetic_interactions(60, 40, seed=3)


@pytest.fixture(scope="module")
def features(data):
    rng = np.random.default_rng(0)
    return {"image": rng.standard_normal((data.n_items, 24)).astype(np.float32),
            "text": rng.standard_normal((data.n_items, 8)).astype(np.float32)}


BUILDERS = {
    "bpr": lambda d, f: BPR(d.n_users, d.n_items, embedding_dim=8),
    "lightgcn": lambda d, f: LightGCN(d.train, embedding_dim=8),
    "vbpr": lambda d, f: VBPR(d.n_users, d.n_items, f, embedding_dim=8),
    "bm3": lambda d, f: BM3(d.train, f, embedding_dim=8, feat_embed_dim=8, dropout=0.0),
    "freedom": lambda d, f: FREEDOM(d.train, f, embedding_dim=8, feat_embed_dim=8, dropout=0.0,
                                    knn_k=3),
}


def test_make_optimizer_uses_the_fused_kernel_on_cpu():
    p = torch.nn.Parameter(torch.zeros(3))
    opt = make_optimizer([p], 1e-3)
    assert isinstance(opt, torch.optim.Adam)
    assert opt.defaults["fused"] is True
    assert opt.defaults["lr"] == 1e-3


def test_one_fused_step_is_adams_update_by_hand():
    # first Adam step: m = (1-b1) g, v = (1-b2) g^2, m_hat = g, v_hat = g^2,
    # p <- p - lr * g / (|g| + eps) = p - lr * sign(g) (up to eps): 1 - 0.1 = 0.9, -2 - 0.1 * (-1) = -1.9
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = make_optimizer([p], 0.1)
    p.grad = torch.tensor([4.0, -0.5])
    opt.step()
    torch.testing.assert_close(p.detach(), torch.tensor([0.9, -1.9]), rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_fused_adam_gives_plain_adams_parameters_after_three_steps(name, data, features):
    torch.manual_seed(0)
    a = BUILDERS[name](data, features)
    b = BUILDERS[name](data, features)
    b.load_state_dict(a.state_dict())
    start = {k: v.detach().clone() for k, v in a.named_parameters()}
    fused = make_optimizer(a.parameters(), 1e-2)
    plain = torch.optim.Adam(b.parameters(), lr=1e-2)
    assert fused.defaults["fused"] and not plain.defaults["fused"]
    users, items = data.pairs("train")
    rng = np.random.default_rng(1)
    for _ in range(3):
        idx = rng.integers(0, len(users), 32)
        u, i = torch.from_numpy(users[idx]), torch.from_numpy(items[idx])
        j = torch.from_numpy(rng.integers(0, data.n_items, 32))
        losses = []
        for model, opt in ((a, fused), (b, plain)):
            model.train()
            opt.zero_grad(set_to_none=True)
            loss = model.calculate_loss(u, i, j)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    pb = dict(b.named_parameters())
    for key, value in a.named_parameters():
        torch.testing.assert_close(value, pb[key], rtol=1e-5, atol=1e-6)
    moved = [k for k, v in a.named_parameters() if not torch.equal(v.detach(), start[k])]
    assert "user_embedding" in moved  # the steps did something (the check is not vacuous)


def test_blocked_ranking_gives_the_same_topk_as_one_block(data, monkeypatch):
    torch.manual_seed(0)
    model = LightGCN(data.train, embedding_dim=8)
    model.eval()
    model.prepare_eval()
    users = np.arange(data.n_users)
    one = topk_scores(model.score_users(torch.from_numpy(users)), 10, data.train.tocsr())
    monkeypatch.setattr(metrics, "SCORE_BLOCK_ELEMENTS", 7 * data.n_items)  # 7 users a block
    blocked = full_ranking_topk(model.score_users, data.n_users, 10, data.train)
    np.testing.assert_array_equal(blocked, one)
    calls = []

    def counting(u: torch.Tensor) -> torch.Tensor:
        calls.append(len(u))
        return model.score_users(u)

    full_ranking_topk(counting, data.n_users, 10, data.train)
    assert max(calls) == 7 and sum(calls) == data.n_users


@pytest.mark.parametrize("n_layers", [0, 1, 2, 3])
def test_layer_mean_is_the_stacked_mean_exactly(n_layers):
    from mmrs.graph import layer_mean

    torch.manual_seed(n_layers)
    layers = [torch.randn(50, 8) for _ in range(n_layers + 1)]
    assert torch.equal(layer_mean(layers), torch.stack(layers, dim=0).mean(dim=0))
