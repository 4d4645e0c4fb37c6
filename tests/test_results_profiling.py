"""Results tables, the epoch-time breakdown and the over-smoothing measure."""

from __future__ import annotations

import json
import math

import pytest
import scipy.sparse as sp
import torch

from mmrs import records as rec
from mmrs.chapters.tables import (
    MMREC_REFERENCE,
    grid_table,
    load_all_records,
    records_table,
    replication_table,
    select_by_validation,
)
from mmrs.data import synthetic_interactions
from mmrs.graph import mean_pairwise_cosine, normalized_adjacency, smoothing_curve
from mmrs.models import BPR
from mmrs.profiling import epoch_time_breakdown
from mmrs.records import save as save_record
from mmrs.train import TrainConfig, train


def test_mean_pairwise_cosine_hand_values():
    same = torch.tensor([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])
    assert mean_pairwise_cosine(same, n_pairs=50) == pytest.approx(1.0)
    # two orthogonal rows: every pair of distinct rows has cosine 0
    assert mean_pairwise_cosine(torch.eye(2), n_pairs=50) == pytest.approx(0.0)
    # rows (1,0) and (-1,0): cosine -1
    assert mean_pairwise_cosine(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), n_pairs=10) == pytest.approx(-1.0)


def test_smoothing_curve_on_complete_bipartite_graph():
    # K_{2,2}: every node has degree 2, Â_ui = 1/2. After one layer both users equal the mean of
    # the two items and vice versa, so with 4 nodes the pairs (u0,u1) and (i0,i1) have cosine 1.
    adj = normalized_adjacency(sp.csr_matrix([[1, 1], [1, 1]]))
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 2.0]])
    curve = smoothing_curve(adj, x, max_layers=1, n_pairs=4000, seed=1)
    assert curve[0]["cosine of H^L"] == pytest.approx(mean_pairwise_cosine(x, 4000, 1))
    h1 = torch.sparse.mm(adj, x)
    assert torch.allclose(h1[0], h1[1]) and torch.allclose(h1[2], h1[3])
    assert curve[1]["cosine of H^L"] == pytest.approx(mean_pairwise_cosine(h1, 4000, 1))
    assert curve[1]["cosine of H^L"] > curve[0]["cosine of H^L"]


def test_epoch_breakdown_adds_up():
    data = synthetic_interactions(n_users=150, n_items=80, seed=2)
    model = BPR(data.n_users, data.n_items, embedding_dim=8)
    for per_batch in (False, True):
        parts = epoch_time_breakdown(model, data, batch_size=64, per_batch_sampling=per_batch)
        assert parts["total_s"] == pytest.approx(parts["sampling_s"] + parts["model_s"])
        assert 0.0 < parts["sampling_share"] < 1.0
    n_pairs = data.train.nnz
    assert epoch_time_breakdown(model, data, batch_size=64)["batches"] == -(-n_pairs // 64)
    assert epoch_time_breakdown(model, data, batch_size=64, max_batches=3)["batches"] == 3


def test_records_round_trip_into_tables(tmp_path):
    data = synthetic_interactions(n_users=120, n_items=70, seed=4)
    data.name = "amazon-baby"  # pretend, to exercise the reference lookup
    record = train(
        BPR(data.n_users, data.n_items, embedding_dim=8),
        data,
        TrainConfig(max_epochs=2, progress=False),
        seed=3,
        command="test",
    )
    save_record(record, tmp_path / "bpr_amazon-baby.json")
    records = load_all_records(tmp_path)
    assert len(records) == 1
    table = records_table(records)
    assert table.loc[0, "test recall@20"] == record["metrics"]["test"]["recall@20"]
    assert table.loc[0, "best epoch"] == record["body"]["best_epoch"]
    assert table.loc[0, "command"] == "test"
    rep = replication_table(records)
    expected = record["metrics"]["test"]["ndcg@20"] / MMREC_REFERENCE[("amazon-baby", "bpr")]["ndcg@20"]
    assert math.isclose(rep.loc[0, "ratio ndcg@20"], expected)
    # a file in the results folder that is not a record is an error naming it, never skipped
    (tmp_path / "other.json").write_text('{"not": "a training record"}')
    with pytest.raises(rec.RecordError, match="other.json"):
        load_all_records(tmp_path)


def _fake_record(dataset: str, model: str, reg: float, valid: float, test: float) -> dict:
    return rec.new_record(
        "train",
        dataset=rec.dataset_entry(dataset),
        model=model,
        config={"model": {"reg_weight": reg, "squared_reg": False}},
        metrics={"valid": {"recall@20": valid}, "test": {"recall@20": test}},
        body={"best_epoch": 3, "epochs_run": 9, "stopped_early": True, "history": []},
        argv=["test"],
    )


def test_selection_uses_validation_not_test(tmp_path):
    # Sports BPR: the point with the best *test* recall (reg 1e-4) is not the one with the best
    # validation recall (reg 0.1), which must be chosen; Baby has one point; a tie on validation
    # goes to the file that sorts first.
    (tmp_path / "grid").mkdir()
    files = {
        "bpr_amazon-sports.json": _fake_record("amazon-sports", "bpr", 1e-4, 0.050, 0.070),
        "grid/bpr_amazon-sports_reg0.1.json": _fake_record("amazon-sports", "bpr", 0.1, 0.060, 0.065),
        "grid/bpr_amazon-sports_reg1.0.json": _fake_record("amazon-sports", "bpr", 1.0, 0.055, 0.066),
        "bpr_amazon-baby.json": _fake_record("amazon-baby", "bpr", 1e-4, 0.040, 0.057),
        "lightgcn_amazon-baby.json": _fake_record("amazon-baby", "lightgcn", 1e-4, 0.070, 0.075),
        "grid/lightgcn_amazon-baby_l3.json": _fake_record("amazon-baby", "lightgcn", 1e-3, 0.070, 0.080),
    }
    for name, record in files.items():
        (tmp_path / name).write_text(json.dumps(record))
    records = load_all_records(tmp_path)
    assert sorted(r["_file"] for r in records) == sorted(files)
    chosen = {(r["dataset"]["name"], r["model"]): r["_file"] for r in select_by_validation(records)}
    assert chosen == {
        ("amazon-sports", "bpr"): "grid/bpr_amazon-sports_reg0.1.json",
        ("amazon-baby", "bpr"): "bpr_amazon-baby.json",
        ("amazon-baby", "lightgcn"): "grid/lightgcn_amazon-baby_l3.json",  # "g" sorts before "l"
    }
    table = grid_table(records)
    sports = table[(table["dataset"] == "amazon-sports")]
    assert list(sports["valid recall@20"]) == [0.060, 0.055, 0.050]  # best validation first
    assert list(sports["selected"]) == [True, False, False]
    assert sports.iloc[0]["hparams"] == "reg_weight=0.1"
    assert int(table["selected"].sum()) == 3


def test_grid_table_shows_only_the_hyper_parameters_that_vary():
    a = _fake_record("fashion-sim-full", "freedom", 1e-3, 0.080, 0.085)
    b = _fake_record("fashion-sim-full", "freedom", 1e-3, 0.079, 0.083)
    a["config"]["model"].update(dropout=0.8, knn_k=10)
    b["config"]["model"].update(dropout=0.9, knn_k=10)
    single = _fake_record("fashion-sim-full", "vbpr", 2.0, 0.060, 0.066)
    single["config"]["model"]["embedding_dim"] = 64
    table = grid_table([a, b, single]).set_index("model")
    assert list(table.loc["freedom", "hparams"]) == ["dropout=0.8", "dropout=0.9"]
    assert table.loc["vbpr", "hparams"] == "reg_weight=2.0, embedding_dim=64"  # one point: all shown


def test_machine_states_the_allocator_settings_only_when_set(monkeypatch):
    from mmrs import provenance

    for name in provenance.MALLOC_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    assert "malloc" not in provenance.machine()
    monkeypatch.setenv("MALLOC_MMAP_MAX_", "0")
    assert provenance.machine()["malloc"] == {"MALLOC_MMAP_MAX_": "0"}


def test_provenance_in_a_checkout_and_outside(monkeypatch, tmp_path):
    from mmrs import provenance

    revision = provenance.git_revision()
    assert revision is None or (len(revision) == 40 and int(revision, 16) >= 0)
    monkeypatch.setattr(provenance, "_HERE", tmp_path)  # not a git repository
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert provenance.git_revision() is None and provenance.git_dirty() is None


def _seed_run(model: str, seed: int, test: float, reg: float = 0.1) -> dict:
    record = _fake_record("amazon-baby", model, reg, 0.05, test)
    record["seeds"] = {"model": seed, "split": 2023}
    record["config"]["train"] = {"max_epochs": 200}
    return record


def test_seed_summary_and_paired_interval_by_hand():
    from mmrs.chapters.tables import paired_difference, same_setting_runs, seed_summary

    bm3 = [_seed_run("bm3", s, v) for s, v in ((2023, 0.085), (2024, 0.083), (2025, 0.087))]
    lgn = [_seed_run("lightgcn", s, v) for s, v in ((2023, 0.077), (2024, 0.078), (2025, 0.076))]
    other = _seed_run("bm3", 2024, 0.5, reg=0.01)  # another setting: never mixed in
    other_split = {**_seed_run("bm3", 2026, 0.5), "seeds": {"model": 2026, "split": 2024}}
    runs = same_setting_runs(bm3[0], [bm3[2], bm3[1], other, other_split])
    assert [r["seeds"]["model"] for r in runs] == [2023, 2024, 2025]
    summary = seed_summary(runs)
    # mean (.085 + .083 + .087) / 3 = .085; deviations 0, -.002, .002 -> sd sqrt(8e-6 / 2) = .002
    assert summary["mean"] == pytest.approx(0.085) and summary["sd"] == pytest.approx(0.002)
    paired = paired_difference(bm3, lgn)
    # differences .008, .005, .011: mean .008, sd .003, t(.975, 2) = 4.3027 -> half 4.3027*.003/sqrt3
    half = 4.302652729911275 * 0.003 / math.sqrt(3)
    assert paired["mean"] == pytest.approx(0.008)
    assert paired["low"] == pytest.approx(0.008 - half) and paired["high"] == pytest.approx(0.008 + half)
    assert paired["relative"] == pytest.approx(0.008 / 0.077)
    with pytest.raises(ValueError, match="unpaired seeds"):
        paired_difference(bm3[:2], lgn[1:])
    with pytest.raises(ValueError, match="share a model seed"):
        same_setting_runs(bm3[0], [bm3[0]])


def test_other_split_runs_keep_the_model_seed_and_change_the_split():
    from mmrs.chapters.tables import other_split_runs

    main = _seed_run("bm3", 2023, 0.085)
    split24 = {**_seed_run("bm3", 2023, 0.080), "seeds": {"model": 2023, "split": 2024}}
    split24_other_model_seed = {**_seed_run("bm3", 2024, 0.081), "seeds": {"model": 2024, "split": 2024}}
    same_split = _seed_run("bm3", 2024, 0.083)
    other_setting = {**_seed_run("bm3", 2023, 0.5, reg=0.01), "seeds": {"model": 2023, "split": 2025}}
    runs = other_split_runs(main, [same_split, other_setting, split24_other_model_seed, split24])
    assert runs == [split24]


def test_seed_and_paired_tables_by_hand():
    from mmrs.chapters.tables import paired_table, seed_table

    bm3 = [_seed_run("bm3", s, v) for s, v in ((2023, 0.085), (2024, 0.083), (2025, 0.087))]
    lgn = [_seed_run("lightgcn", s, v) for s, v in ((2025, 0.076), (2023, 0.077), (2024, 0.078))]
    table = seed_table({"BM3": bm3, "LightGCN": lgn}, metrics=("recall@20",))
    assert list(table.index) == ["BM3 recall@20", "LightGCN recall@20"]
    # LightGCN: .077, .078, .076 -> mean .077, sd .001
    assert table.loc["LightGCN recall@20", "mean"] == pytest.approx(0.077)
    assert table.loc["LightGCN recall@20", "sd"] == pytest.approx(0.001)
    assert table.loc["LightGCN recall@20", "seeds"] == [2025, 2023, 2024]  # as given
    frame, paired = paired_table(bm3, lgn, "BM3", "LightGCN", metrics=("recall@20",))
    # paired by seed, not by position: differences .008, .005, .011 (as in the test above)
    assert frame.loc["recall@20", "BM3 − LightGCN"] == pytest.approx(0.008)
    assert frame.loc["recall@20", "relative to LightGCN"] == pytest.approx(0.008 / 0.077)
    assert paired["recall@20"]["differences"] == pytest.approx([0.008, 0.005, 0.011])


def test_seed_records_are_never_selected(tmp_path):
    from mmrs.chapters.tables import load_seed_records

    (tmp_path / "seeds").mkdir()
    save_record(_seed_run("bm3", 2023, 0.08), tmp_path / "bm3_amazon-baby.json")
    save_record(_seed_run("bm3", 2024, 0.09), tmp_path / "seeds" / "bm3_amazon-baby_s2024.json")
    assert [r["_file"] for r in load_all_records(tmp_path)] == ["bm3_amazon-baby.json"]
    assert [r["_file"] for r in load_seed_records(tmp_path)] == ["seeds/bm3_amazon-baby_s2024.json"]


def test_ablation_seed_table_by_hand():
    from mmrs.chapters.tables import ablation_seed_table

    full = [_seed_run("bm3", s, v) for s, v in ((2023, 0.050), (2024, 0.052), (2025, 0.048))]
    # costs full - variant: "w/o t" .010, .012, .008 (mean .010, sd .002: clearly positive);
    # "w/o intra" -.001, .003, -.002 (mean 0: contains zero, although seed 2023 said "negative")
    no_t = [_seed_run("bm3", s, v, reg=0.2) for s, v in ((2025, 0.040), (2023, 0.040), (2024, 0.040))]
    no_intra = [_seed_run("bm3", s, v, reg=0.3) for s, v in ((2023, 0.051), (2024, 0.049), (2025, 0.050))]
    table, costs = ablation_seed_table(full, {"w/o t": no_t, "w/o intra": no_intra})
    assert list(table.index) == ["w/o t", "w/o intra"]
    row = table.loc["w/o t"]
    half = 4.302652729911275 * 0.002 / math.sqrt(3)  # t(.975, 2) * sd / sqrt(n)
    assert row["n"] == 3 and row["mean"] == pytest.approx(0.040) and row["sd"] == pytest.approx(0.0)
    assert row["cost"] == pytest.approx(0.010) and row["cost sd"] == pytest.approx(0.002)
    assert row["95 % low"] == pytest.approx(0.010 - half) and row["95 % high"] == pytest.approx(0.010 + half)
    assert row["first seed"] == 2023 and row["first-seed cost"] == pytest.approx(0.010)
    assert row["verdict"] == "survives"
    row = table.loc["w/o intra"]
    assert row["cost"] == pytest.approx(0.0) and row["first-seed cost"] == pytest.approx(-0.001)
    assert row["verdict"] == "is not resolved"
    assert costs["w/o t"]["differences"] == pytest.approx([0.010, 0.012, 0.008])  # paired by seed
    with pytest.raises(ValueError, match="unpaired seeds"):
        ablation_seed_table(full, {"w/o t": no_t[:2]})
