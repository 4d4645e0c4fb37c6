"""Attribution methods against a planted answer, attention read-outs by hand, IG completeness,
the fusion models' masking and seeded training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mmrs.attribution import (
    group_shares,
    integrated_gradients,
    last_layer,
    modality_ablation,
    rank_agreement,
    rollout,
    token_occlusion,
)
from mmrs.models.fusion_transformer import FusionTransformer, MeanFusion


class PlantedPool(nn.Module):
    """``s = Σ_t α_t Σ_d x_{t,d}`` with fixed ``α = w / Σ w`` (a positional attention that does
    not depend on the input), so every method must give token ``t`` a share ``α_t``."""

    def __init__(self, w: np.ndarray, n_text: int, dims=(3, 5), n_items: int = 4) -> None:
        super().__init__()
        self.alpha = torch.as_tensor(w / w.sum(), dtype=torch.float32)
        self.n_text = n_text
        self.text = torch.ones(n_items, n_text, dims[0]) / dims[0]  # Σ_d x_{t,d} = 1 per token
        self.regions = torch.ones(n_items, len(w) - n_text, dims[1]) / dims[1]
        self.mask = torch.ones(n_items, n_text, dtype=torch.bool)

    def inputs(self, items):
        return self.text[items], self.regions[items], self.mask[items]

    def score_inputs(self, text, regions, users, text_mask, keep=("text", "image")):
        v = torch.cat([text.sum(-1) * ("text" in keep), regions.sum(-1) * ("image" in keep)], 1)
        return (self.alpha * v).sum(1)

    def attention_maps(self, text, regions, text_mask):
        b, t = text.shape[0], 1 + len(self.alpha)
        a = torch.eye(t).repeat(b, 1, 1, 1)  # [B, 1 head, T, T]
        a[:, :, 0, 0] = 0.0
        a[:, :, 0, 1:] = self.alpha
        return [a]


@pytest.fixture
def planted():
    w = np.array([4.0, 1.0, 2.0, 0.5, 6.0, 1.5])  # 3 title tokens, 3 regions
    groups = np.array([[0, 1, 1, 2, 2, 2]] * 2)  # brand | gender, gender | photo x3
    truth = np.array([4.0, 3.0, 8.0]) / 15.0     # group sums of w / Σ w (Σ w = 15)
    return PlantedPool(w, n_text=3), groups, truth


def test_every_method_recovers_the_planted_answer(planted):
    model, groups, truth = planted
    users, items = torch.tensor([0, 1]), torch.tensor([2, 3])
    text, regions, mask = model.inputs(items)
    maps = model.attention_maps(text, regions, mask)
    ig, delta = integrated_gradients(model, users, items, n_steps=16)
    found = {
        "last layer": last_layer(maps)[:, 1:],
        "rollout": rollout(maps)[:, 1:],
        "integrated gradients": ig,
        "occlusion": token_occlusion(model, users, items),
    }
    for method, a in found.items():
        shares = group_shares(a, groups, 3)
        np.testing.assert_allclose(shares, np.tile(truth, (2, 1)), atol=1e-6, err_msg=method)
        assert rank_agreement(shares.mean(0), truth)["spearman"] == pytest.approx(1.0)
    # modality ablation: dropping text removes Σ_text α = 7/15, dropping the photo 8/15
    drop = modality_ablation(model, users, items)
    np.testing.assert_allclose(drop["text"].numpy(), [7 / 15] * 2, atol=1e-6)
    np.testing.assert_allclose(drop["image"].numpy(), [8 / 15] * 2, atol=1e-6)
    assert delta.abs().max() < 1e-5  # a linear score: the integral is exact


def test_attention_readouts_by_hand():
    # one head, tokens (cls, a, b); layer 1 and layer 2 attention rows
    a1 = torch.tensor([[0.2, 0.8, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 0.5]])
    a2 = torch.tensor([[0.0, 0.5, 0.5], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    maps = [a1.view(1, 1, 3, 3), a2.view(1, 1, 3, 3)]
    assert torch.allclose(last_layer(maps), torch.tensor([[0.0, 0.5, 0.5]]))
    # Â1 row 0 = ½(a1 + I) = (0.6, 0.4, 0); Â2 = ½(a2 + I): row 0 = (0.5, 0.25, 0.25),
    # rows 1, 2 = identity rows.  R = Â2 Â1, row 0 = 0.5 (0.6, 0.4, 0) + 0.25 (0, 1, 0)
    # + 0.25 (0.25, 0, 0.75) = (0.3625, 0.45, 0.1875)
    assert torch.allclose(rollout(maps), torch.tensor([[0.3625, 0.45, 0.1875]]))


def test_group_shares_and_rank_agreement_by_hand():
    a = np.array([[1.0, -3.0, 2.0, 0.0]])
    g = np.array([[0, 1, 1, -1]])  # padding (-1) is ignored
    np.testing.assert_allclose(group_shares(a, g, 2), [[1 / 6, 5 / 6]])
    assert rank_agreement([1, 2, 3], [10, 20, 30]) == {"spearman": 1.0, "kendall": 1.0}
    assert rank_agreement([3, 2, 1], [10, 20, 30])["spearman"] == pytest.approx(-1.0)
    assert rank_agreement([1, 1, 1], [1, 2, 3]) == {"spearman": 0.0, "kendall": 0.0}


def _tiny(cls, seed=0, n_items=6, n_users=5):
    rng = np.random.default_rng(seed)
    text = rng.normal(size=(n_items, 4, 7)).astype(np.float32)
    mask = np.array([[True] * (2 + i % 3) + [False] * (2 - i % 3) for i in range(n_items)])
    regions = rng.normal(size=(n_items, 3, 5)).astype(np.float32)
    torch.manual_seed(seed)
    model = cls(n_users, text, mask, regions, embedding_dim=8, n_heads=2, dropout=0.0)
    return model.eval()


@pytest.mark.parametrize("cls", [FusionTransformer, MeanFusion])
def test_integrated_gradients_completeness(cls):
    model = _tiny(cls)
    users, items = torch.tensor([0, 1, 2, 3]), torch.tensor([0, 1, 4, 5])
    ig, delta = integrated_gradients(model, users, items, n_steps=128)
    text, regions, mask = model.inputs(items)
    with torch.no_grad():
        gap = (model.score_inputs(text, regions, users, mask)
               - model.score_inputs(0 * text, 0 * regions, users, mask))
    # Σ_j IG_j = s(x) − s(0) up to the quadrature error Captum reports as delta
    assert torch.allclose(ig.sum(1), gap, atol=1e-2 * gap.abs().max().item())
    assert delta.abs().max() < 1e-2 * gap.abs().max()


def test_padding_tokens_get_no_attribution_and_change_nothing():
    model = _tiny(FusionTransformer)
    users, items = torch.tensor([0, 1]), torch.tensor([0, 1])  # item 0: 2 tokens, 2 pads
    with torch.no_grad():
        before = model.score_inputs(*model.inputs(items)[:2], users, model.inputs(items)[2])
        model.text[0, 2:] += 100.0  # padding positions of item 0
        after = model.score_inputs(*model.inputs(items)[:2], users, model.inputs(items)[2])
    assert torch.allclose(before, after, atol=1e-5)
    assert token_occlusion(model, users, items)[0, 2:4].abs().max() < 1e-5
    maps = model.attention_maps(*model.inputs(items))
    assert last_layer(maps)[0, 3:5].abs().max() == 0  # cls row, keys 3, 4 = title pads


def test_occlusion_and_modality_ablation_match_manual_edits():
    model = _tiny(FusionTransformer)
    users, items = torch.tensor([2]), torch.tensor([3])
    text, regions, mask = model.inputs(items)
    with torch.no_grad():
        s = model.score_inputs(text, regions, users, mask)
        t2 = text.clone()
        t2[:, 1] = 0
        manual = s - model.score_inputs(t2, regions, users, mask)
        no_text = s - model.score_inputs(text, regions, users, torch.zeros_like(mask))
    assert torch.allclose(token_occlusion(model, users, items)[0, 1], manual[0], atol=1e-6)
    assert torch.allclose(modality_ablation(model, users, items)["text"], no_text, atol=1e-6)


def test_training_is_seeded():
    from mmrs.data.synthetic import synthetic_interactions
    from mmrs.train import TrainConfig, train

    data = synthetic_interactions(n_users=30, n_items=20, seed=1)
    rng = np.random.default_rng(0)
    text = rng.normal(size=(20, 4, 7)).astype(np.float32)
    regions = rng.normal(size=(20, 3, 5)).astype(np.float32)
    config = TrainConfig(max_epochs=2, patience=1, batch_size=64, ks=(5, 10), stop_metric="recall@10",
                         progress=False, device="cpu")
    runs = [train(FusionTransformer(30, text, np.ones((20, 4), bool), regions, embedding_dim=8),
                  data, config, seed=5)["metrics"]["test"] for _ in range(2)]
    assert runs[0] == runs[1]
    grads = FusionTransformer(30, text, np.ones((20, 4), bool), regions, embedding_dim=8)
    grads.calculate_loss(torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5])).backward()
    assert grads.proj_text.weight.grad.abs().sum() > 0 and grads.proj_image.weight.grad.abs().sum() > 0
