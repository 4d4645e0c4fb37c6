"""Negative sampling, the BPR loss by hand, and the shared trainer (seeding, restore, records)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from mmrs import records as rec
from mmrs.cli import main
from mmrs.data.synthetic import synthetic_interactions
from mmrs.metrics import evaluate_split
from mmrs.models import BPR, LightGCN, MostPop, build_model
from mmrs.models.base import Recommender
from mmrs.records import load as load_record
from mmrs.records import save as save_record
from mmrs.sampling import NegativeSampler
from mmrs.train import TrainConfig, train


@pytest.fixture(scope="module")
def data():
    return synthetic_interactions(120, 60, seed=0)


def test_negatives_never_in_train_and_uniform(data):
    sampler = NegativeSampler(data.train, np.random.default_rng(0))
    users, _ = data.pairs("train")
    many = np.tile(users, 20)
    negatives = sampler.sample(many)
    train = data.train.toarray() > 0
    assert negatives.dtype == np.int64
    assert not train[many, negatives].any()
    assert negatives.min() >= 0 and negatives.max() < data.n_items
    # uniform over the allowed items of one user: 30,000 draws, each allowed item expects
    # 30000 / m; a 6-sigma band on the binomial count never fails by chance in practice.
    draws = sampler.sample(np.zeros(30_000, dtype=np.int64))
    allowed = np.flatnonzero(~train[0])
    counts = np.bincount(draws, minlength=data.n_items)
    assert counts[train[0]].sum() == 0
    p = 1 / len(allowed)
    sigma = math.sqrt(30_000 * p * (1 - p))
    assert np.abs(counts[allowed] - 30_000 * p).max() < 6 * sigma


def test_sampler_train_items_only():
    # item 3 has no training interaction: with train_items_only it is never drawn
    from scipy import sparse

    train = sparse.csr_matrix(np.array([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0]], dtype=float))
    draws = NegativeSampler(train, 0, train_items_only=True).sample(np.zeros(2000, np.int64))
    assert set(np.unique(draws)) == {1}  # user 0: candidates {0, 1} minus its item 0
    draws = NegativeSampler(train, 0).sample(np.zeros(2000, np.int64))
    assert set(np.unique(draws)) == {1, 2, 3, 4}


def test_sampler_is_seeded(data):
    users, _ = data.pairs("train")
    a = NegativeSampler(data.train, 7).sample(users)
    b = NegativeSampler(data.train, np.random.default_rng(7)).sample(users)
    np.testing.assert_array_equal(a, b)


def test_bpr_loss_by_hand():
    # e_u0 = (1, 0), e_u1 = (0, 1); e_i0 = (2, 0), e_i1 = (1, 1), e_i2 = (0, 3)
    # Triples (u0, i0, i1): s_ui - s_uj = 2 - 1 = 1;  (u1, i2, i0): 3 - 0 = 3
    # BPR = (-log σ(1) - log σ(3)) / 2
    # EmbLoss (MMRec, B = 2): (||[e_u0; e_u1]|| + ||[e_i0; e_i2]|| + ||[e_i1; e_i0]||) / 2
    #                       = (√2 + √13 + √6) / 2;   squared: (2 + 13 + 6) / 2 = 10.5
    def sigmoid(x: float) -> float:
        return 1 / (1 + math.exp(-x))

    bpr = (-math.log(sigmoid(1.0)) - math.log(sigmoid(3.0))) / 2
    for squared, reg in ((False, (math.sqrt(2) + math.sqrt(13) + math.sqrt(6)) / 2), (True, 10.5)):
        model = BPR(2, 3, embedding_dim=2, reg_weight=0.01, squared_reg=squared)
        with torch.no_grad():
            model.user_embedding.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
            model.item_embedding.copy_(torch.tensor([[2.0, 0.0], [1.0, 1.0], [0.0, 3.0]]))
        loss = model.calculate_loss(
            torch.tensor([0, 1]), torch.tensor([0, 2]), torch.tensor([1, 0])
        )
        assert loss.item() == pytest.approx(bpr + 0.01 * reg, rel=1e-6)
        scores = model.score_users(torch.tensor([1]))
        assert scores.tolist() == [[0.0, 1.0, 3.0]]


def test_most_pop_scores_train_degree(data):
    model = MostPop(data.train)
    degree = np.asarray((data.train > 0).sum(axis=0)).ravel()
    np.testing.assert_array_equal(model.score_users(torch.tensor([0, 5]))[1].numpy(), degree)
    assert not model.trainable and not model.needs_negatives
    record = train(model, data, TrainConfig(progress=False), seed=0)
    assert record["body"]["best_epoch"] == 0 and record["body"]["epochs_run"] == 0
    assert 0.0 < record["metrics"]["test"]["recall@20"] <= 1.0


@pytest.mark.parametrize("name", ["bpr", "lightgcn"])
def test_same_seed_same_metrics(data, name):
    config = TrainConfig(max_epochs=3, batch_size=256, progress=False)
    first = train(build_model(name, data), data, config, seed=11)
    second = train(build_model(name, data), data, config, seed=11)
    assert first["metrics"]["valid"] == second["metrics"]["valid"]
    assert first["metrics"]["test"] == second["metrics"]["test"]
    assert [h["loss"] for h in first["body"]["history"]] == [h["loss"] for h in second["body"]["history"]]
    assert first["body"]["epochs_run"] == 3
    other = train(build_model(name, data), data, config, seed=12)
    assert [h["loss"] for h in other["body"]["history"]] != [h["loss"] for h in first["body"]["history"]]


class Scripted(Recommender):
    """Validation quality is a known function of a parameter that grows by 1 per epoch.

    With one batch per epoch, lr = 1 and a constant gradient, Adam moves ``theta`` by 1 per
    step, so after epoch ``e`` theta = e. Scores = ``w(theta) * oracle + noise`` with
    ``w = max(0, 2 - |theta - 2|) / 2`` and noise in [0, 1): only at epoch 2 (w = 1) is every
    validation item above all noise, so validation Recall@20 peaks there.
    """

    name = "scripted"
    needs_negatives = False

    def __init__(self, data) -> None:
        super().__init__(data.n_users, data.n_items)
        self.theta = torch.nn.Parameter(torch.zeros(()))
        rng = np.random.default_rng(0)
        self.oracle = torch.from_numpy(data.valid.toarray().astype(np.float32))
        self.noise = torch.from_numpy(rng.random((data.n_users, data.n_items), dtype=np.float32))

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.theta.zero_()

    def calculate_loss(self, users, pos, neg):
        return -self.theta * 1.0

    def score_users(self, users):
        weight = 0.5 * torch.clamp(2 - (self.theta - 2).abs(), min=0)
        return weight * self.oracle[users] + self.noise[users]


def test_trainer_restores_best_epoch(data):
    model = Scripted(data)
    config = TrainConfig(max_epochs=50, patience=2, batch_size=10**6, lr=1.0, progress=False)
    record = train(model, data, config, seed=0)
    values = [h["recall@20"] for h in record["body"]["history"]]
    assert record["body"]["best_epoch"] == 2 and values[1] == max(values) and values[0] < values[1]
    # MMRec's rule: stop once more than `patience` (2) evaluations failed to improve: 3, 4, 5
    assert record["body"]["epochs_run"] == 5 and record["body"]["stopped_early"]
    assert model.theta.item() == pytest.approx(2.0, abs=1e-4)  # restored, not the epoch-5 value
    assert record["metrics"]["valid"] == evaluate_split(model, data, "valid", config.ks)
    assert record["metrics"]["test"] == evaluate_split(model, data, "test", config.ks)


def test_record_json_round_trip(data, tmp_path):
    record = train(
        LightGCN(data.train, n_layers=1), data, TrainConfig(max_epochs=2, progress=False), seed=3
    )
    rec.validate(record, "live")
    assert record["kind"] == "train" and record["seeds"]["model"] == 3
    for split in ("valid", "test"):
        assert {
            f"{m}@{k}"
            for m in ("recall", "ndcg", "precision", "map", "hit")
            for k in (5, 10, 20, 50)
        } <= set(record["metrics"][split])
    assert record["config"]["model"]["n_layers"] == 1
    assert record["config"]["train"]["batch_size"] == 2048
    assert record["config"]["train"]["device"] == "cpu"  # the default
    assert record["timings"]["train_s_per_epoch"] > 0 and record["peak_rss_mb"] > 0
    assert torch.__version__.startswith(record["versions"]["torch"])  # installed metadata: no +local tag
    path = save_record(record, tmp_path / "out" / "lg.json")
    assert load_record(path) == json.loads(json.dumps(record))
    assert [p.name for p in path.parent.iterdir()] == ["lg.json"]  # no temporary file left


def test_cli_train_on_a_dataset_folder(data, tmp_path):
    folder = tmp_path / "toy"
    folder.mkdir()
    rows = ["userID\titemID\tx_label"]
    for label, split in enumerate(("train", "valid", "test")):
        users, items = data.pairs(split)
        rows += [f"{u}\t{i}\t{label}" for u, i in zip(users, items, strict=True)]
    (folder / "toy.inter").write_text("\n".join(rows) + "\n")
    out = tmp_path / "bpr.json"
    code = main(
        [
            "train",
            "--model",
            "bpr",
            "--dataset",
            str(folder),
            "--out",
            str(out),
            "--max-epochs",
            "2",
            "--reg-weight",
            "0.001",
            "--seed",
            "5",
            "--no-progress",
        ]
    )
    assert code == 0
    record = load_record(out)
    assert record["model"] == "bpr" and record["seeds"]["model"] == 5
    assert record["body"]["epochs_run"] == 2
    assert record["config"]["model"]["reg_weight"] == 0.001
    assert record["command"].startswith("python -m mmrs train --model bpr")
