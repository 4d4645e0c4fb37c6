"""BM3: losses against hand calculations, stop-gradient, scoring, features, seeding, collapse."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mmrs import records
from mmrs.chapters.bm3_analysis import collapse_curve, collapse_stats, rare_item_metrics
from mmrs.data import load_interactions, synthetic_interactions
from mmrs.models.bm3 import BM3, build_bm3, cosine_loss
from mmrs.models.bm3_reference import ReferenceBM3
from mmrs.train import TrainConfig, train

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")


def test_cosine_loss_by_hand():
    # cos([1,0],[1,0]) = 1, cos([0,1],[1,0]) = 0 -> mean 0.5 -> C = 1 - 0.5 = 0.5
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert float(cosine_loss(a, b)) == pytest.approx(0.5)


def tiny_model(**kwargs) -> BM3:
    """2 users, 2 items (u0-i0, u1-i1), 0 layers, dropout 0, identity predictor and projection."""
    train = sp.csr_matrix(np.eye(2, dtype=np.float32))
    feats = {"image": np.array([[1.0, 0.0], [1.0, 1.0]], dtype=np.float32)}
    model = BM3(train, feats, embedding_dim=2, feat_embed_dim=2, n_layers=0, dropout=0.0,
                reg_weight=0.1, **kwargs)
    with torch.no_grad():
        model.user_embedding.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        model.item_embedding.copy_(torch.tensor([[1.0, 1.0], [0.0, 1.0]]))
        for layer in (model.predictor, *model.projections.values()):
            layer.weight.copy_(torch.eye(2))
            layer.bias.zero_()
    return model


def test_losses_by_hand():
    model = tiny_model()
    terms = model.loss_terms(torch.tensor([0, 1]), torch.tensor([0, 1]))
    # H_U = E_U = [[1,0],[0,1]]; H_I = mean(E_I) + E_I = 2 E_I = [[2,2],[0,2]] (0 layers)
    # L_ui: cos([1,0],[2,2]) = 2/(1*2√2) = 1/√2, cos([0,1],[0,2]) = 1 -> 1 - (1/√2 + 1)/2
    ui = 1 - (1 / math.sqrt(2) + 1) / 2  # 0.146447
    assert float(terms["ui"]) == pytest.approx(ui, abs=1e-6)
    assert float(terms["iu"]) == pytest.approx(ui, abs=1e-6)  # the same pairs, cos is symmetric
    assert float(terms["rec"]) == pytest.approx(2 * ui, abs=1e-6)
    # reg = (||H_U||_F + ||H_I||_F) / |I| = (√2 + √12) / 2 = 2.439158
    assert float(terms["reg"]) == pytest.approx((math.sqrt(2) + math.sqrt(12)) / 2, abs=1e-6)
    # L_align: h_v = [[1,0],[1,1]] vs ḣ_i = [[2,2],[0,2]]: both cosines 1/√2 -> 1 - 1/√2 = 0.292893
    assert float(terms["align_image"]) == pytest.approx(1 - 1 / math.sqrt(2), abs=1e-6)
    # L_mask with dropout 0: h̃_v vs its own view ḣ_v = h_v -> cos 1 -> 0
    assert float(terms["mask_image"]) == pytest.approx(0.0, abs=1e-6)
    # total = 0.292893 + 0.1 * 2.439158 + 2.0 * (0.292893 + 0) = 1.122596
    total = 2 * ui + 0.1 * (math.sqrt(2) + math.sqrt(12)) / 2 + 2.0 * (1 - 1 / math.sqrt(2))
    assert float(terms["total"]) == pytest.approx(total, abs=1e-5)
    assert float(model.calculate_loss(torch.tensor([0, 1]), torch.tensor([0, 1]), None)) == pytest.approx(total, abs=1e-5)


def test_ablation_switches_drop_terms():
    users, pos = torch.tensor([0, 1]), torch.tensor([0, 1])
    assert "align_image" not in tiny_model(use_inter=False).loss_terms(users, pos)
    assert "mask_image" not in tiny_model(use_intra=False).loss_terms(users, pos)
    terms = tiny_model(modalities=()).loss_terms(users, pos)
    # ID only: total = L_rec + 0.1 reg = 0.292893 + 0.243916
    assert float(terms["total"]) == pytest.approx(2 * (1 - (1 / math.sqrt(2) + 1) / 2) + 0.1 * (math.sqrt(2) + math.sqrt(12)) / 2, abs=1e-5)


def test_dropout_target_is_rescaled_and_detached():
    model = tiny_model()
    model.dropout = 0.5
    h = torch.randn(50, 2, requires_grad=True)
    target = model.target(h)
    assert not target.requires_grad
    kept = target != 0
    # F.dropout keeps entries with prob. 1-p and rescales them by 1/(1-p) = 2
    assert torch.allclose(target[kept], 2 * h.detach()[kept])
    assert 0 < kept.float().mean() < 1


def test_no_gradient_through_targets():
    # 0 layers: L_ui = C(h̃_u, sg(ḣ_i)) involves items only through the target -> no item gradient
    model = tiny_model()
    model.loss_terms(torch.tensor([0, 1]), torch.tensor([0, 1]))["ui"].backward()
    assert model.item_embedding.grad is None or float(model.item_embedding.grad.abs().sum()) == 0.0
    assert float(model.user_embedding.grad.abs().sum()) > 0
    leaky = tiny_model(collapse_variant="no_stopgrad")
    leaky.loss_terms(torch.tensor([0, 1]), torch.tensor([0, 1]))["ui"].backward()
    assert float(leaky.item_embedding.grad.abs().sum()) > 0


def test_predictor_is_used_for_scoring():
    model = tiny_model()
    model.eval()
    before = model.score_users(torch.tensor([0, 1])).clone()
    # identity predictor: s = H_U H_I^T = [[1,0],[0,1]] @ [[2,0],[2,2]] = [[2,0],[2,2]]
    assert torch.allclose(before, torch.tensor([[2.0, 0.0], [2.0, 2.0]]))
    with torch.no_grad():
        model.predictor.weight.mul_(2.0)
    model.train()
    model.eval()
    after = model.score_users(torch.tensor([0, 1]))
    assert torch.allclose(after, 4 * before)  # both sides scaled by 2


def test_efficient_loss_equals_reference():
    data = synthetic_interactions(60, 40, seed=3)
    rng = np.random.default_rng(0)
    feats = {"image": rng.normal(size=(40, 12)).astype("f4"), "text": rng.normal(size=(40, 8)).astype("f4")}
    ours = BM3(data.train, feats, dropout=0.0, n_layers=2)
    ref = ReferenceBM3(data.train, feats, dropout=0.0, n_layers=2)
    ref.load_state_dict(ours.state_dict())
    users, items = (torch.from_numpy(a[:100]) for a in data.pairs("train"))
    a, b = ours.calculate_loss(users, items), ref.calculate_loss(users, items)
    assert float(a) == pytest.approx(float(b), rel=1e-6)
    a.backward()
    b.backward()
    for (name, p), q in zip(ours.named_parameters(), ref.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, atol=1e-6), name


def test_features_from_mmrec_folder(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    rows = ["userID\titemID"] + [f"{u}\t{i}" for u in range(8) for i in range(8) if (u + i) % 3 != 0]
    (folder / "tiny.inter").write_text("\n".join(rows) + "\n")
    image = np.arange(8 * 6, dtype=np.float32).reshape(8, 6) / 10
    text = np.ones((8, 4), dtype=np.float32)
    np.save(folder / "image_feat.npy", image)
    np.save(folder / "text_feat.npy", text)
    data = load_interactions(folder)
    model = build_bm3(data)
    assert model.modalities == ("image", "text")
    assert torch.equal(model.feat_tables["image"].detach(), torch.from_numpy(image))
    assert model.projections["image"].in_features == 6
    assert model.projections["text"].in_features == 4
    assert model.feat_tables["text"].requires_grad  # trainable raw tables, as the reference
    with pytest.raises(ValueError, match="modalities"):
        BM3(data.train, {}, modalities=("image",))


def test_seeded_run_is_reproducible():
    data = synthetic_interactions(120, 60, seed=5)
    rng = np.random.default_rng(1)
    data.features = {"text": rng.normal(size=(60, 8)).astype("f4")}
    config = TrainConfig(max_epochs=2, batch_size=256, progress=False)
    r1 = train(build_bm3(data), data, config, seed=7)
    r2 = train(build_bm3(data), data, config, seed=7)
    assert r1["metrics"]["test"] == r2["metrics"]["test"]
    assert r1["body"]["history"][0]["loss"] == r2["body"]["history"][0]["loss"]
    assert r1["config"]["model"]["modalities"] == ["text"]


def test_collapse_without_stop_gradient():
    data = synthetic_interactions(200, 100, seed=1)
    collapsed = collapse_curve(BM3(data.train, modalities=(), collapse_variant="no_stopgrad"), data,
                               steps=60, batch_size=512, lr=1e-2)
    assert collapsed[-1]["mean_cosine"] > 0.99 and collapsed[-1]["std"] < 0.01
    healthy = collapse_curve(BM3(data.train, modalities=()), data, steps=60, batch_size=512, lr=1e-2)
    assert max(c["mean_cosine"] for c in healthy[-10:]) < 0.95
    assert healthy[-1]["std"] > 0.03


def test_collapse_stats_by_hand():
    # two identical directions: cosine 1, std 0; orthogonal pair: cosine 0, per-dim std 1/√2
    assert collapse_stats(torch.tensor([[1.0, 1.0], [2.0, 2.0]]))["mean_cosine"] == pytest.approx(1.0)
    stats = collapse_stats(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert stats["mean_cosine"] == pytest.approx(0.0)
    assert stats["std"] == pytest.approx(1 / math.sqrt(2))


def test_rare_item_metrics_counts():
    data = synthetic_interactions(150, 80, seed=2)
    degree = np.asarray(data.train.getnnz(axis=0))
    test = data.test.tocoo()
    expected = int((degree[test.col] <= 5).sum())
    out = rare_item_metrics(lambda u: torch.zeros(len(u), data.n_items), data, ks=(20,))
    assert out["n_interactions"] == expected
    assert 0.0 <= out["recall@20"] <= 1.0


def test_rare_item_metrics_within_rare_items_by_hand():
    # score = -item id: every user ranks items by increasing id. Among rare items only, a user's
    # top 10 are the 10 smallest-id rare items outside its training set.
    data = synthetic_interactions(150, 80, seed=3)
    rare = np.asarray(data.train.getnnz(axis=0)).ravel() <= 5
    assert rare.sum() == 16
    train, test = data.train.tocsr(), sp.csr_matrix(data.test)
    recalls = []
    for u in range(data.n_users):
        truth = {int(i) for i in test[u].indices if rare[i]}
        if truth:
            ranked = [i for i in np.flatnonzero(rare) if i not in set(train[u].indices)][:10]
            recalls.append(len(truth.intersection(ranked)) / len(truth))

    def by_id(users):
        return -torch.arange(data.n_items, dtype=torch.float32).expand(len(users), -1)

    within = rare_item_metrics(by_id, data, ks=(10,), candidates="rare")
    assert within["recall@10"] == pytest.approx(np.mean(recalls))
    assert within["n_users"] == len(recalls)
    overall = rare_item_metrics(by_id, data, ks=(10,))
    assert overall["n_interactions"] == within["n_interactions"]
    assert within["recall@10"] >= overall["recall@10"]  # fewer competitors for the same items
    with pytest.raises(ValueError, match="candidates"):
        rare_item_metrics(by_id, data, candidates="tail")


def test_ablation_table_columns_from_records():
    from mmrs.chapters.bm3 import ablation_table

    def run(r20: float, within: float | None) -> dict:
        record = {
            "metrics": {"test": {"recall@20": r20, "ndcg@20": r20 / 2},
                        "valid": {"recall@20": r20 + 0.01}, "rare": {"recall@20": 0.0}},
            "body": {"best_epoch": 7, "epochs_run": 27},
            "timings": {"train_s_per_epoch": 1.5},
        }
        if within is not None:
            record["metrics"]["rare_within"] = {"recall@20": within, "n_users": 100}
        return record

    table = ablation_table({"BM3 (v+t)": run(0.2, 0.3), "w/o v&t": run(0.1, 0.05)})
    assert table.loc["BM3 (v+t)", "rare-within recall@20"] == 0.3
    assert table.loc["BM3 (v+t)", "rare-within ±1 SE"] == pytest.approx((0.3 * 0.7 / 100) ** 0.5)
    assert table.loc["w/o v&t", "ndcg@20"] == 0.05 and table.loc["w/o v&t", "epochs run"] == 27
    old = ablation_table({"LightGCN": run(0.1, None)})
    assert "rare-within recall@20" not in old.columns


def test_table4_reads_the_benchmark_record(tmp_path, monkeypatch):
    from mmrs.chapters import bm3 as bm3_results

    row = {"model": "bm3", "seconds_per_epoch": {"train": 4.5, "eval": 1.0}, "peak_rss_mb": 900.0, "parameters": 1700}
    record = records.benchmark_record({"rows": [row]}, "amazon-baby",
                                      command="python benchmarks/bench_table4.py")
    records.save(record, tmp_path / "t4.json")
    monkeypatch.setattr(bm3_results, "find_record_file", lambda name, folder: tmp_path / name)
    frame = bm3_results.table4("t4.json")
    assert frame.loc["bm3", "train s/epoch"] == 4.5 and frame.loc["bm3", "parameters"] == 1700
    assert frame.attrs["command"].startswith("python benchmarks/bench_table4.py")
    with pytest.raises(FileNotFoundError, match="bench_table4"):
        bm3_results.table4("missing.json")


def _set_record(variants: dict[str, float], dataset: str = "fashion-sim-full") -> dict:
    def run(r20: float) -> dict:
        return records.new_record(
            "train", dataset=records.dataset_entry(dataset), model="bm3", config={},
            metrics={"valid": {"recall@20": r20}, "test": {"recall@20": r20, "ndcg@20": r20 / 2},
                     "rare": {"recall@20": 0.0},
                     "rare_within": {"recall@20": r20 / 4, "n_users": 100}},
            body={"best_epoch": 1, "epochs_run": 2, "stopped_early": True, "history": []},
            timings={"train_s_per_epoch": 1.0}, argv=["x"])

    return records.new_record("train-set", dataset=records.dataset_entry(dataset), config={},
                              metrics={}, body={"runs": {v: run(x) for v, x in variants.items()}},
                              argv=["x"])


def test_load_runs_merges_sets_on_the_same_data_only(tmp_path, monkeypatch, capsys):
    from mmrs.chapters import bm3 as chapter

    records.save(_set_record({"BM3 (v+t)": 0.08, "LightGCN": 0.07}), tmp_path / "a.json")
    records.save(_set_record({"LightGCN": 0.01, "BPR": 0.04}), tmp_path / "b.json")
    records.save(_set_record({"BPR": 0.04}, dataset="fashion-sim-ci"), tmp_path / "c.json")
    monkeypatch.setattr(chapter, "find_record_file", lambda name, folder: tmp_path / name)
    runs, parts = chapter.load_runs(["a.json", "b.json", "missing.json"])
    assert list(runs) == ["BM3 (v+t)", "LightGCN", "BPR"] and len(parts) == 2
    assert runs["LightGCN"]["metrics"]["test"]["recall@20"] == 0.07  # the first record wins
    assert "missing.json" in capsys.readouterr().out
    with pytest.raises(ValueError, match="c.json was made on other data"):
        chapter.load_runs(["a.json", "c.json"])


def test_plot_ablation_draws_both_panels():
    import matplotlib.pyplot as plt

    from mmrs.chapters.bm3 import ablation_table, plot_ablation

    table = ablation_table(_set_record({"BM3": 0.08, "BPR": 0.04})["body"]["runs"])
    fig, axes = plt.subplots(1, 2)
    plot_ablation(table, axes)
    widths = [p.get_width() for p in axes[1].patches]
    assert widths == [0.02, 0.01]  # rare-within recall@20 per row, in table order
    assert axes[0].yaxis_inverted() and axes[1].yaxis_inverted()
    plt.close(fig)


def test_plot_ablation_seeds_draws_each_seed_and_interval():
    import matplotlib.pyplot as plt

    from mmrs.chapters.bm3 import plot_ablation_seeds

    costs = {"w/o v": {"mean": 0.004, "low": 0.001, "high": 0.007, "differences": [0.003, 0.004, 0.005]},
             "w/o t": {"mean": 0.0, "low": -0.01, "high": 0.01, "differences": [-0.002, 0.0, 0.002]}}
    fig, ax = plt.subplots()
    plot_ablation_seeds(costs, ax)
    lines = ax.get_lines()
    bars = [ln for ln in lines if list(ln.get_xdata()) in ([0.001, 0.007], [-0.01, 0.01])]
    assert [list(b.get_ydata()) for b in bars] == [[0, 0], [1, 1]]  # one interval per row, in order
    dots = [ln for ln in lines if ln.get_marker() == "o"]
    assert [list(d.get_xdata()) for d in dots] == [[0.003, 0.004, 0.005], [-0.002, 0.0, 0.002]]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["w/o v", "w/o t"] and ax.yaxis_inverted()
    plt.close(fig)
