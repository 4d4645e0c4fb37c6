"""The trainer's steps on their own: EarlyStopping, TrainConfig checks, devices, fit, records."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mmrs import records
from mmrs.data.synthetic import synthetic_interactions
from mmrs.models import build_model
from mmrs.sampling import NegativeSampler
from mmrs.train import (
    DEVICES,
    EarlyStopping,
    FitResult,
    TrainConfig,
    build_record,
    evaluate,
    fit,
    resolve_device,
    seed_everything,
    train,
    train_one_epoch,
)

TIMING_KEYS = ("timings", "peak_rss_mb", "created_utc", "versions", "machine")


@pytest.fixture(scope="module")
def data():
    return synthetic_interactions(80, 60, seed=1)


def _untimed(record: dict) -> dict:
    out = {k: v for k, v in record.items() if k not in TIMING_KEYS}
    out["body"] = {**record["body"], "history": [
        {k: v for k, v in h.items() if k not in ("train_s", "eval_s")} for h in record["body"]["history"]
    ]}
    return out


# -- EarlyStopping -------------------------------------------------------------------------
#          epoch:  1    2    3    4    5    6     7     8
VALUES = [0.1, 0.3, 0.3, 0.2, 0.4, 0.35, 0.35, 0.35]


def _run(patience: int, values=VALUES) -> tuple[EarlyStopping, int, list[int]]:
    stopper = EarlyStopping(patience)
    improved = []
    for epoch, value in enumerate(values, start=1):
        if stopper.update(value, epoch, snapshot=lambda e=epoch: f"state {e}"):
            improved.append(epoch)
        if stopper.should_stop:
            return stopper, epoch, improved
    return stopper, 0, improved


@pytest.mark.parametrize(
    ("patience", "stop_epoch", "best_epoch", "improved"),
    [
        (0, 3, 2, [1, 2]),  # the tie at epoch 3 is no improvement: 1 > 0 failures, stop
        (1, 4, 2, [1, 2]),  # failures at 3, 4
        (2, 8, 5, [1, 2, 5]),  # 3, 4 fail, 5 improves; 6, 7, 8 fail (ties with each other)
        (3, 0, 5, [1, 2, 5]),  # never stops within the sequence
    ],
)
def test_early_stopping_sequence(patience, stop_epoch, best_epoch, improved):
    stopper, stopped_at, seen = _run(patience)
    assert stopped_at == stop_epoch
    assert seen == improved
    assert stopper.best_epoch == best_epoch
    assert stopper.best_value == VALUES[best_epoch - 1]
    assert stopper.best_state == f"state {best_epoch}"  # snapshot taken on improvement only


def test_early_stopping_start_and_ties():
    stopper = EarlyStopping(0)
    assert stopper.best_value == -math.inf and stopper.best_epoch == 0 and not stopper.should_stop
    assert stopper.update(0.0, 1)  # anything beats -inf
    assert not stopper.update(0.0, 2)  # a tie is not an improvement
    assert stopper.should_stop and stopper.best_epoch == 1 and stopper.best_state is None
    with pytest.raises(ValueError, match=r"patience must be an integer >= 0, got -1"):
        EarlyStopping(-1)


# -- TrainConfig ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("max_epochs", 0, ">= 1"),
        ("max_epochs", 2.5, ">= 1"),
        ("patience", -1, ">= 0"),
        ("batch_size", 0, ">= 1"),
        ("eval_batch_size", -5, ">= 1"),
        ("lr", 0.0, "> 0"),
        ("lr", -1e-3, "> 0"),
        ("lr", float("nan"), "> 0"),
        ("ks", (), ">= 1"),
        ("ks", (5, 0), ">= 1"),
        ("ks", (5, -10), ">= 1"),
        ("ks", (2.5,), ">= 1"),
        ("ks", (True,), ">= 1"),
        ("ks", "20", ">= 1"),
        ("device", "gpu", "'cuda'"),
    ],
)
def test_train_config_rejects(name, value, allowed):
    with pytest.raises(ValueError) as info:
        TrainConfig(**{name: value})
    message = str(info.value)
    assert "\n" not in message
    assert f"TrainConfig.{name} " in message and repr(value) in message and allowed in message


def test_train_config_accepts_valid_values():
    TrainConfig()
    TrainConfig(max_epochs=1, patience=0, batch_size=1, lr=5.0, eval_batch_size=1, ks=[1, 20])
    for device in DEVICES:
        assert TrainConfig(device=device).device == device
    assert TrainConfig().device == "cpu"


# -- devices -------------------------------------------------------------------------------
def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        assert resolve_device("auto").type != "cuda"
        with pytest.raises(RuntimeError, match="cuda"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")


def test_train_one_epoch_on_cpu_device_is_unchanged(data):
    losses = []
    for device in (None, torch.device("cpu")):
        rng = seed_everything(4)
        model = build_model("bpr", data)
        model.reset_parameters()
        users, items = data.pairs("train")
        sampler = NegativeSampler(data.train, rng, train_items_only=True)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        losses.append(
            train_one_epoch(model, optimizer, users, items, sampler, rng, 128, device=device)
        )
    assert losses[0] == losses[1] and np.isfinite(losses[0])


# -- fit, evaluate, build_record, train ------------------------------------------------------
def test_fit_evaluate_and_build_record(data):
    config = TrainConfig(max_epochs=3, patience=0, batch_size=256, progress=False)
    rng = seed_everything(7)
    model = build_model("lightgcn", data)
    model.reset_parameters()
    result = fit(model, data, config, rng)
    assert isinstance(result, FitResult)
    assert 1 <= result.best_epoch <= result.epochs_run <= 3
    assert [h["epoch"] for h in result.history] == list(range(1, result.epochs_run + 1))
    assert len(result.train_seconds) == len(result.eval_seconds) == result.epochs_run
    best = max(h["recall@20"] for h in result.history)
    assert result.valid is not None and result.valid["recall@20"] == best
    # the best epoch's parameters were restored: validation reproduces its metrics
    valid, seconds = evaluate(model, data, "valid", config)
    assert valid == result.valid and seconds >= 0
    test, test_s = evaluate(model, data, "test", config)
    record = build_record(model, data, config, 7, result, test, test_s, command="cmd")
    records.validate(record, "built")
    assert record["body"]["best_epoch"] == result.best_epoch and record["metrics"]["valid"] == result.valid
    assert record["command"] == "cmd" and record["config"]["train"]["device"] == "cpu"


def test_fit_without_parameters_evaluates_once(data):
    config = TrainConfig(progress=False)
    result = fit(build_model("pop", data), data, config, np.random.default_rng(0))
    assert (result.best_epoch, result.epochs_run, result.stopped_early) == (0, 0, False)
    assert [h["epoch"] for h in result.history] == [0] and result.history[0]["loss"] is None
    assert result.train_seconds == [] and len(result.eval_seconds) == 1


def test_same_seed_same_record_other_seed_differs(data):
    config = TrainConfig(max_epochs=3, batch_size=256, progress=False)
    first = train(build_model("lightgcn", data), data, config, seed=21, command="x")
    second = train(build_model("lightgcn", data), data, config, seed=21, command="x")
    assert _untimed(first) == _untimed(second)
    other = train(build_model("lightgcn", data), data, config, seed=22, command="x")
    assert _untimed(other) != _untimed(first)
    assert [h["loss"] for h in other["body"]["history"]] != [h["loss"] for h in first["body"]["history"]]


def test_progress_bar_goes_to_stderr(data, capsys):
    config = TrainConfig(max_epochs=2, batch_size=256, progress=True)
    train(build_model("bpr", data), data, config, seed=0, command="x")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "bpr" in captured.err and "2/2" in captured.err


@pytest.mark.skipif(resolve_device("auto").type != "cpu", reason="'auto' picks an accelerator here")
def test_auto_device_on_a_cpu_machine_matches_cpu(data):
    records = [
        train(
            build_model("bpr", data),
            data,
            TrainConfig(max_epochs=2, batch_size=256, progress=False, device=device),
            seed=3,
            command="x",
        )
        for device in ("cpu", "auto")
    ]
    a, b = (_untimed(r) for r in records)
    assert a["config"]["train"].pop("device") == "cpu"
    assert b["config"]["train"].pop("device") == "auto"
    assert a == b
