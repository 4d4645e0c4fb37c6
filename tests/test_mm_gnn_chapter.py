"""Chapter 5's helpers for MMGCN, GRCN, DualGNN and LATTICE (mmrs.chapters.mm_gnn), on small
synthetic records whose answers are computed by hand in the comments."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from mmrs import records  # noqa: E402
from mmrs.chapters import mm_gnn  # noqa: E402
from mmrs.data.published import INHA_NDCG50, MMREC_BABY  # noqa: E402
from mmrs.experiments import Point  # noqa: E402


def _row(model: str, train: float, evaluate: float, rss: float) -> dict:
    return {"model": model, "hparams": {}, "epochs": 2,
            "seconds_per_epoch": {"train": 3 * train, "eval": 3 * evaluate},  # wall: a loaded machine
            "cpu_seconds_per_epoch": {"train": train, "eval": evaluate},
            "peak_rss_mb": rss, "parameters": 10}


@pytest.fixture()
def table4_record() -> dict:
    rows = [_row("bm3", 2.0, 1.0, 1000.0), _row("mmgcn", 20.0, 2.0, 1500.0),
            _row("grcn", 10.0, 2.0, 1200.0), _row("lattice", 4.0, 2.0, 2000.0)]
    record = records.benchmark_record({"benchmark": "t4", "epochs": 2, "rows": rows},
                                      "fashion-sim-full", command="python benchmarks/bench_table4.py")
    records.validate(record)
    return record


def test_efficiency_table_ratios_come_from_cpu_seconds(table4_record: dict) -> None:
    table = mm_gnn.efficiency_table(table4_record)
    assert list(table.index) == ["BM3", "MMGCN", "GRCN", "LATTICE"]
    # MMGCN: 20 / 2 = 10 (CPU); the wall seconds (60 / 6) would give the same here, but the column
    # must be the CPU one: check the CPU value is what is shown
    assert table.loc["MMGCN", "train CPU s/epoch"] == 20.0
    assert table.loc["MMGCN", "train wall s/epoch"] == 60.0
    assert table.loc["MMGCN", "train time × BM3"] == pytest.approx(10.0)
    assert table.loc["LATTICE", "memory × BM3"] == pytest.approx(2.0)  # 2000 / 1000
    assert table.loc["BM3", "train time × BM3"] == 1.0
    assert "item–item" in table.loc["LATTICE", "cost comes from"]
    assert table.attrs["epochs"] == 2


def test_efficiency_table_needs_the_bm3_row(table4_record: dict) -> None:
    table4_record["body"]["rows"] = [r for r in table4_record["body"]["rows"] if r["model"] != "bm3"]
    with pytest.raises(ValueError, match="'bm3'"):
        mm_gnn.efficiency_table(table4_record)


def test_paper_claims_against_hand_ratios(table4_record: dict) -> None:
    claims = mm_gnn.paper_claims(mm_gnn.efficiency_table(table4_record))
    # speed-ups over BM3 (2 s): MMGCN 10 (outside 2-9), GRCN 5 (inside), LATTICE 2 (inside)
    assert claims["speedup"] == pytest.approx({"MMGCN": 10.0, "GRCN": 5.0, "LATTICE": 2.0})
    assert (claims["in_range"], claims["n_baselines"]) == (2, 3)
    assert (claims["speedup_min"], claims["speedup_max"]) == (2.0, 10.0)
    assert claims["bm3_over_lattice_time"] == pytest.approx(0.5)  # 2 / 4
    assert claims["bm3_over_lattice_memory"] == pytest.approx(0.5)  # 1000 / 2000


def _complexity_record() -> dict:
    sizes = [1000, 2000, 4000]
    rows = [{"n_items": n, "cpu_s": {"lattice_raw_graph": 1e-6 * n**2, "bm3_projection": 1e-4 * n}}
            for n in sizes]
    body = {"rows": rows, "slopes": {"lattice_raw_graph": 2.0, "bm3_projection": 1.0},
            "expected_slopes": {"lattice_raw_graph": 2, "bm3_projection": 1}}
    return records.benchmark_record({"benchmark": "complexity", **body}, "synthetic", command="x")


def test_complexity_table_and_plot_follow_the_power_laws() -> None:
    table = mm_gnn.complexity_table(_complexity_record())
    assert list(table.index) == [1000, 2000, 4000]
    assert table.loc[4000, "lattice_raw_graph"] == pytest.approx(16.0)  # 1e-6 * 4000²
    assert table.attrs["slopes"]["bm3_projection"] == 1.0
    fig, ax = plt.subplots()
    mm_gnn.plot_complexity(table, ax)
    lines = ax.get_lines()
    assert len(lines) == 4  # markers + fitted line per step
    # the fitted line of t = 1e-6 n² passes through the measurements: 1, 4, 16 s
    assert lines[1].get_ydata() == pytest.approx([1.0, 4.0, 16.0])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "slope 2.00 (formula 2)" in labels[0] and "slope 1.00 (formula 1)" in labels[1]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    plt.close(fig)


def test_reference_table_ratio_and_goal() -> None:
    def res(ours: float, ref: float, items: int) -> dict:
        return {"ours": {"cpu_s_per_epoch": ours}, "reference": {"cpu_s_per_epoch": ref},
                "ratio": ours / ref, "n_items": items, "batches_timed": 4, "batches_per_epoch": 40,
                "max_abs_loss_diff": 1e-7}
    record = records.benchmark_record(
        {"benchmark": "ref", "results": {"lattice": res(3.0, 30.0, 2000), "grcn": res(30.0, 40.0, 5740)}},
        "fashion-sim-full", command="x")
    record["body"]["results"]["grcn"]["ratio_per_batch_quartiles"] = [0.6, 0.7, 0.8]
    table = mm_gnn.reference_table(record)
    assert table.loc["GRCN", "per-batch ratio, median"] == 0.7
    assert math.isnan(table.loc["LATTICE", "per-batch ratio, median"])  # not recorded: NaN
    assert table.loc["LATTICE", "ours / reference"] == pytest.approx(0.1)  # 3 / 30
    assert bool(table.loc["LATTICE", "goal ≤ 0.5 met"]) is True
    assert bool(table.loc["GRCN", "goal ≤ 0.5 met"]) is False  # 30 / 40 = 0.75
    assert table.loc["LATTICE", "items"] == 2000


def _train(test: dict, valid: float = 0.1, best: int = 7) -> dict:
    return {"metrics": {"test": test, "valid": {"recall@20": valid}}, "body": {"best_epoch": best}}


def test_grid_status_estimates_the_cost_of_points_not_run(table4_record: dict) -> None:
    table4 = mm_gnn.efficiency_table(table4_record)
    run = ("python", "-m", "mmrs.experiments.feature_models", "--max-epochs", "150")
    points = [Point("lattice-r0.0", "book/results/grid/lat0.json", (*run, "--model", "lattice")),
              Point("grcn-r0.1", "book/results/grid/grcn.json", (*run, "--model", "grcn"))]
    have = {"book/results/grid/grcn.json": _train({"recall@20": 0.05, "ndcg@50": 0.03})}
    table = mm_gnn.grid_status(points, have, table4, typical_epochs=60).set_index("point")
    assert table.loc["grcn-r0.1", "status"] == "run"
    assert table.loc["grcn-r0.1", "test recall@20"] == 0.05
    assert table.loc["lattice-r0.0", "status"] == "not run yet"
    # LATTICE: (4 + 2) CPU s/epoch x 150 epochs = 900 s = 0.25 h; x 60 epochs = 360 s = 0.1 h
    assert table.loc["lattice-r0.0", "est. CPU h at the epoch cap"] == pytest.approx(0.25)
    assert table.loc["lattice-r0.0", "est. CPU h, typical stop"] == pytest.approx(0.1)
    assert math.isnan(table.loc["grcn-r0.1", "est. CPU h at the epoch cap"])
    # epochs are counts: a nullable integer column (missing for points not run), not 7.0000
    assert str(table["best epoch"].dtype) == "Int64" and pd.isna(table.loc["lattice-r0.0", "best epoch"])
    assert table.loc["grcn-r0.1", "best epoch"] == 7
    every = mm_gnn.grid_status(points[1:], have, table4, typical_epochs=60)  # all run: no estimate
    assert every["est. CPU h at the epoch cap"].isna().all() and every["est. CPU h, typical stop"].isna().all()


def test_inha_table_ratios_and_ranks() -> None:
    ours = {"bm3": _train({"ndcg@50": 0.04}), "grcn": _train({"ndcg@50": 0.02})}
    table = mm_gnn.inha_table(ours)
    assert table.loc["BM3", "Inha entry NDCG@50"] == INHA_NDCG50["bm3"] == 0.035
    assert table.loc["GRCN", "Inha entry ÷ BM3"] == pytest.approx(0.8)  # .028 / .035
    assert table.loc["GRCN", "ours ÷ BM3"] == pytest.approx(0.5)  # .02 / .04
    assert math.isnan(table.loc["MMGCN", "ours NDCG@50"])  # no record: NaN, not a number made up
    assert list(table["Inha entry rank"]) == [1.0, 2.0, 3.0]  # BM3 .035 > GRCN .028 > MMGCN .018
    assert table.loc["GRCN", "our rank"] == 2.0


def test_mmrec_ordering_kendall_tau() -> None:
    ours = {m: _train({"recall@20": v}) for m, v in
            (("freedom", 0.06), ("bm3", 0.05), ("vbpr", 0.046), ("lightgcn", 0.045))}
    table = mm_gnn.mmrec_ordering(ours)
    assert table.loc["BM3", "MMRec Baby recall@20"] == MMREC_BABY["bm3"]["recall@20"] == 0.0883
    # MMRec: FREEDOM .0992 > BM3 .0883 > LightGCN .0754 > VBPR .0663; ours swaps the last two:
    # 5 concordant and 1 discordant pair of 6 -> tau = (5 - 1) / 6
    assert table.attrs["kendall_tau"] == pytest.approx(4 / 6)
    assert table.attrs["n_models"] == 4
    assert table.loc["VBPR", "our rank"] == 3.0 and table.loc["VBPR", "MMRec rank"] == 4.0
    assert math.isnan(table.loc["MMGCN", "our rank"])
    assert math.isnan(mm_gnn.mmrec_ordering({"bm3": ours["bm3"]}).attrs["kendall_tau"])


def test_new_model_points_are_the_declared_grids() -> None:
    points = mm_gnn.new_model_points()
    models = {mm_gnn.point_model(p.argv) for p in points}
    assert models == {*mm_gnn.NEW_MODELS, "buir"}
    assert len(mm_gnn.new_model_points(["lattice"])) >= 3  # three points of MMRec's grid
    assert all(mm_gnn.point_epochs(p.argv) > 0 for p in points)
    # a point whose record is not there is left out (never an error, never a made-up row)
    missing = Point("x", "book/results/grid/no_such_record.json", ("--model", "lattice"))
    assert mm_gnn.load_point_records([missing]) == {}


# ------------------------------------------------ the reference modules' benchmark options


def _small_feature_data(n_users: int = 40, n_items: int = 25, seed: int = 6):
    import numpy as np

    from mmrs.data import synthetic_interactions

    data = synthetic_interactions(n_users, n_items, seed=seed)
    rng = np.random.default_rng(0)
    data.features = {"image": rng.normal(size=(n_items, 6)).astype("f4"),
                     "text": rng.normal(size=(n_items, 5)).astype("f4")}
    return data


def test_grcn_reference_differentiable_equals_the_float64_reference_and_trains() -> None:
    import torch

    from mmrs.models import build_model
    from mmrs.models.mm_gnn_reference import grcn_reference

    data = _small_feature_data()
    users, pos = (torch.from_numpy(a[:16]) for a in data.pairs("train"))
    neg = (pos + 1) % data.n_items
    torch.manual_seed(0)
    model = build_model("grcn", data, reg_weight=0.01)
    _, loss64 = grcn_reference(model, data.train, users, pos, neg)
    _, loss32 = grcn_reference(model, data.train, users, pos, neg, differentiable=True)
    assert loss32.dtype == torch.float32 and loss64.dtype == torch.float64
    assert float(loss32) == pytest.approx(float(loss64), rel=1e-5)
    assert float(loss32) == pytest.approx(float(model.calculate_loss(users, pos, neg)), rel=1e-5)
    assert not loss64.requires_grad  # detached copies: no gradient reaches the model
    loss32.backward()  # the benchmark trains on it: gradients reach every parameter group
    for p in (model.id_embedding, model.confidence, model.preferences["image"],
              model.projections["text"].weight):
        assert p.grad is not None and float(p.grad.abs().sum()) > 0


def test_reference_lattice_builds_its_original_graphs_once() -> None:
    import torch

    from mmrs.models.lattice_reference import (
        ReferenceLATTICE,
        dense_knn,
        dense_normalize,
        dense_sim,
    )

    data = _small_feature_data(30, 20, seed=1)
    ref = ReferenceLATTICE(data.train, data.features, embedding_dim=8, feat_embed_dim=8, knn_k=4)
    first = ref.original_dense("image")
    assert ref.original_dense("image") is first  # cached, as MMRec's image_original_adj
    fresh = dense_normalize(dense_knn(dense_sim(torch.from_numpy(data.features["image"])), 4))
    assert torch.allclose(first, fresh)
    ref.double()  # a new dtype rebuilds it
    assert ref.original_dense("image").dtype == torch.float64


def test_propagation_table_labels_and_ratio() -> None:
    props = {"mean": {"ours_cpu_s": 0.02, "pyg_cpu_s": 0.08, "ratio": 0.25}}
    record = records.benchmark_record({"benchmark": "ref", "results": {}, "propagations": props},
                                      "fashion-sim-full", command="x")
    table = mm_gnn.propagation_table(record)
    assert list(table.index) == ["MMGCN: mean aggregation (1 layer)"]
    assert table.iloc[0]["ours / PyG"] == 0.25 and table.iloc[0]["PyG CPU s"] == 0.08
    record["body"].pop("propagations")  # an older record without them: an empty table
    assert mm_gnn.propagation_table(record).empty
