"""Equal tuning budgets (Chapter 5): the exact expected-best-of-k estimator and its table."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mmrs.chapters.tables import equal_budget_k, equal_budget_table, expected_best_of_k


def test_expected_best_of_k_by_hand():
    valid, test = [0.3, 0.1, 0.2], [1.0, 4.0, 2.0]
    # subsets of 2: {a,b} -> a (1), {a,c} -> a (1), {b,c} -> c (2): mean 4/3
    # formula: ranks a, c, b; P = C(2,1)/3, C(1,1)/3, C(0,1)/3 = 2/3, 1/3, 0
    assert expected_best_of_k(valid, test, 2) == pytest.approx(4 / 3)
    assert expected_best_of_k(valid, test, 1) == pytest.approx(7 / 3)  # the grid's mean
    assert expected_best_of_k(valid, test, 3) == pytest.approx(1.0)  # the validation-selected point


def test_expected_best_of_k_equals_enumeration():
    rng = np.random.default_rng(0)
    valid, test = rng.random(7), rng.random(7)
    for k in range(1, 8):
        subsets = list(itertools.combinations(range(7), k))
        brute = np.mean([test[max(s, key=lambda i: valid[i])] for s in subsets])
        assert expected_best_of_k(valid, test, k) == pytest.approx(brute, abs=1e-12)


def test_validation_ties_share_their_test_mean():
    # a and b tie on validation: whichever wins, a random tie-break gives (1 + 3) / 2 at k = 3
    assert expected_best_of_k([0.5, 0.5, 0.1], [1.0, 3.0, 9.0], 3) == pytest.approx(2.0)
    # k = 2: {a,b} -> 2, {a,c} -> 1, {b,c} -> 3: mean 2
    assert expected_best_of_k([0.5, 0.5, 0.1], [1.0, 3.0, 9.0], 2) == pytest.approx(2.0)


def test_expected_best_of_k_rejects_bad_budgets():
    with pytest.raises(ValueError, match=r"k must be in \[1, 2\]"):
        expected_best_of_k([0.1, 0.2], [0.1, 0.2], 3)
    with pytest.raises(ValueError, match="2 validation values but 1 test"):
        expected_best_of_k([0.1, 0.2], [0.1], 1)


def _run(name: str, valid: float, test: float, **settings) -> dict:
    return {"_file": name, "config": {"model": settings},
            "metrics": {"valid": {"recall@20": valid}, "test": {"recall@20": test}}}


def test_equal_budget_table_uses_the_smallest_grid_of_at_least_three():
    grids = {
        "A": [_run(f"a{i}", v, t, reg=i) for i, (v, t) in
              enumerate([(0.3, 1.0), (0.1, 4.0), (0.2, 2.0), (0.05, 0.0)])],
        "B": [_run(f"b{i}", v, t, reg=i) for i, (v, t) in enumerate([(0.3, 1.0), (0.1, 4.0), (0.2, 2.0)])],
        "C": [_run("c0", 0.2, 5.0, reg=0), _run("c1", 0.2, 5.0, reg=0)],  # one setting, twice
    }
    assert equal_budget_k({"A": 4, "B": 3, "C": 1}) == 3 and equal_budget_k({"C": 2}) is None
    table = equal_budget_table(grids)
    assert table.attrs["k"] == 3
    assert table["grid points"].tolist() == [4, 3, 1]
    # B at k = 3 is its selected point (1.0); A at k = 3 of 4: ranks a0, a2, a1, a3 with
    # P = C(3,2)/4, C(2,2)/4, 0, 0 = 3/4, 1/4 -> 0.75 * 1 + 0.25 * 2 = 1.25
    at_k = table["test recall@20, expected best of k"]
    assert at_k["A"] == pytest.approx(1.25) and at_k["B"] == pytest.approx(1.0)
    assert np.isnan(at_k["C"]) and table.loc["C", "note"] == "only 1 point: no value at k = 3"
    assert table["test recall@20, best of all points"].tolist() == pytest.approx([1.0, 1.0, 5.0])
    # one point: the grid's mean, (1 + 4 + 2 + 0) / 4 and (1 + 4 + 2) / 3; C counts its setting once
    assert table["test recall@20, one point (grid mean)"].tolist() == pytest.approx([1.75, 7 / 3, 5.0])


def _history_run(valids: list[float], best: int, test: float) -> dict:
    return {"body": {"epochs_run": len(valids), "best_epoch": best,
                     "history": [{"epoch": e + 1, "recall@20": v} for e, v in enumerate(valids)]},
            "metrics": {"test": {"recall@20": test}}}


def test_valid_at_epoch_compares_the_same_epoch():
    from mmrs.chapters.tables import valid_at_epoch

    runs = {1: _history_run([0.1, 0.3, 0.2], best=2, test=0.25), 2: _history_run([0.2, 0.4], best=2, test=0.35)}
    table = valid_at_epoch(runs)
    # the last epoch both reached is 2: 0.3 and 0.4; run 1's best epoch (2) is read from its history
    assert table["epoch"].tolist() == [2, 2]
    assert table["valid recall@20 at epoch"].tolist() == pytest.approx([0.3, 0.4])
    assert table.loc[1, "valid recall@20 at best epoch"] == pytest.approx(0.3)
    assert valid_at_epoch(runs, epoch=1)["valid recall@20 at epoch"].tolist() == pytest.approx([0.1, 0.2])
    with pytest.raises(ValueError, match="run 2 has no epoch 3"):
        valid_at_epoch(runs, epoch=3)


def test_lightgcn_pyg_table_reads_the_benchmark_record():
    import json
    from pathlib import Path

    from mmrs.chapters.tables import lightgcn_pyg_table

    record = json.loads((Path(__file__).resolve().parents[1]
                         / "benchmarks/results/lightgcn_vs_pyg.json").read_text())
    table = lightgcn_pyg_table()
    body = record["body"]
    assert table.loc["PyG", "train s/epoch (median)"] == body["train_seconds_per_epoch_median"]["pyg"]
    assert table.loc["mmrs", "eval s (best)"] == body["eval_seconds_best"]["mmrs"]
    assert table.attrs["train_ratio"] == pytest.approx(
        body["train_seconds_per_epoch_median"]["pyg"] / body["train_seconds_per_epoch_median"]["mmrs"])
