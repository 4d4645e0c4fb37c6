"""mmrs.records: one schema for every record, atomic writes, validation naming the field, lookup
from anywhere, and every committed record valid."""

from __future__ import annotations

import copy
import importlib.util
import json
import math
from pathlib import Path

import pytest

from mmrs import records

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = sorted((ROOT / "book" / "results").rglob("*.json")) + sorted(
    (ROOT / "benchmarks" / "results").rglob("*.json")
)


def train_record(**over) -> dict:
    record = records.new_record(
        "train",
        dataset=records.dataset_entry("toy", "/tmp/toy", {"toy.inter": "ab" * 32}, {"n_users": 3}),
        model="bpr",
        config={"model": {"reg_weight": 0.1}, "train": {"max_epochs": 2}},
        seeds={"model": 7},
        metrics={"valid": {"recall@20": 0.5}, "test": {"recall@20": 0.25}},
        timings={"train_s_per_epoch": 0.1},
        body={"best_epoch": 1, "epochs_run": 2, "stopped_early": False, "history": []},
        argv=["python", "-m", "mmrs", "train"],
    )
    record.update(over)
    return record


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_committed_record_follows_the_schema(path):
    record = records.load(path)
    assert record["schema_version"] == records.SCHEMA_VERSION
    assert record["command"]


def test_new_record_fills_the_provenance():
    r = train_record()
    assert r["command"] == "python -m mmrs train"
    assert set(r["git"]) == {"revision", "dirty"}
    assert r["versions"]["python"].count(".") == 2
    assert r["machine"]["cpu_count"] >= 1
    assert r["created_utc"].endswith("+00:00")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r.pop("seeds"), "seeds"),
        (lambda r: r["dataset"].pop("name"), "dataset.name"),
        (lambda r: r.update(kind="guess"), "kind"),
        (lambda r: r.update(extra=1), "extra"),
        (lambda r: r["metrics"]["test"].update({"recall@20": 1.5}), "metrics.test.recall@20"),
        (lambda r: r["metrics"].pop("valid"), "metrics.valid"),
        (lambda r: r["body"].update(best_epoch=3), "body.best_epoch"),
        (lambda r: r["body"].update(stopped_early="no"), "body.stopped_early"),
        (lambda r: r["seeds"].update(model=True), "seeds.model"),
        (lambda r: r["git"].update(dirty="yes"), "git.dirty"),
        (lambda r: r["timings"].update(train_s_per_epoch=math.nan), "timings.train_s_per_epoch"),
        (lambda r: r.update(schema_version=0), "schema_version"),
    ],
)
def test_validation_names_the_field(change, field):
    r = train_record()
    change(r)
    with pytest.raises(records.RecordError, match=f"x.json: field '{field}'"):
        records.validate(r, "x.json")


def test_a_train_set_validates_each_run():
    run = train_record()
    bad = copy.deepcopy(run)
    bad["body"].pop("history")
    r = records.new_record("train-set", dataset=run["dataset"], config={}, metrics={},
                           body={"runs": {"a": run}}, argv=["x"])
    r["body"]["runs"]["b"] = bad
    with pytest.raises(records.RecordError, match="body.runs.b.body.history"):
        records.validate(r, "set.json")


def test_save_is_atomic_and_rejects_nan(tmp_path):
    path = tmp_path / "r.json"
    records.save(train_record(), path)
    before = path.read_text()
    broken = train_record()
    broken["timings"]["x"] = math.inf
    with pytest.raises(records.RecordError, match="timings.x"):
        records.save(broken, path)
    assert path.read_text() == before  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left


def test_write_failure_leaves_no_temporary_file(tmp_path, monkeypatch):
    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(records.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        records.write_text_atomic(tmp_path / "r.json", "{}")
    assert list(tmp_path.iterdir()) == []


def test_load_names_the_file(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{"schema_version": 1, "kind": "train", "x": NaN}')
    with pytest.raises(records.RecordError, match=f"{path}: not valid JSON"):
        records.load(path)
    path.write_text(json.dumps({**train_record(), "kind": "benchmark", "command": 3}))
    with pytest.raises(records.RecordError, match="field 'command' is a int"):
        records.load(path)
    with pytest.raises(records.RecordError, match="no such record"):
        records.load(tmp_path / "missing.json")


def test_find_from_a_chapter_folder_an_env_folder_and_the_checkout(tmp_path, monkeypatch):
    name = "toy_record.json"
    # a notebook opened alone, beside a results/ folder
    (tmp_path / "results").mkdir()
    records.save(train_record(), tmp_path / "results" / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(records.RECORDS_ENV, raising=False)
    assert records.find(name) == tmp_path / "results" / name
    # a folder named by MMRS_RECORDS wins
    other = tmp_path / "elsewhere" / "book" / "results"
    other.mkdir(parents=True)
    records.save(train_record(), other / name)
    monkeypatch.setenv(records.RECORDS_ENV, str(tmp_path / "elsewhere"))
    assert records.find(name) == other / name
    # the checkout's committed records, from an unrelated working folder
    monkeypatch.delenv(records.RECORDS_ENV)
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert records.find("bm3_amazon-baby.json") == ROOT / "book" / "results" / "bm3_amazon-baby.json"
    with pytest.raises(FileNotFoundError, match="not found"):
        records.find("nope.json")


def _migration():
    spec = importlib.util.spec_from_file_location("migrate", ROOT / "scripts" / "migrate_records.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OLD_TRAIN = {
    "dataset": "amazon-baby", "model": "bpr",
    "config": {"model": {"reg_weight": 0.0001}, "train": {"max_epochs": 400}}, "seed": 2023,
    "best_epoch": 13, "epochs_run": 34, "stopped_early": True,
    "valid": {"recall@20": 0.0612}, "test": {"recall@20": 0.0572},
    "seconds_per_epoch": {"train": 1.8, "eval": 2.1}, "test_eval_seconds": 5.4,
    "peak_rss_mb": 1024.3, "git_revision": "a" * 40,
    "machine": {"platform": "Linux", "python": "3.11.7", "torch": "2.14.1", "numpy": "2.4.6",
                "cpu_count": 2},
    "command": "python -m mmrs train --model bpr --out x.json",
    "history": [{"epoch": 1, "loss": 0.69}], "created_utc": "2026-11-22T06:54:11+00:00",
    "data": {"n_users": 19445, "split_source": "MMRec rule, seed 2023"},
}


def test_migration_moves_values_without_changing_them(tmp_path):
    migrate = _migration()
    new = migrate.migrate(copy.deepcopy(OLD_TRAIN), tmp_path / "bpr.json")
    records.validate(new)
    assert new["metrics"]["test"] == OLD_TRAIN["test"]
    assert new["body"]["best_epoch"] == 13
    assert new["seeds"] == {"model": 2023, "split": 2023}
    assert new["timings"]["test_eval_s"] == 5.4
    assert new["versions"] == {"python": "3.11.7", "torch": "2.14.1", "numpy": "2.4.6"}
    assert new["git"] == {"revision": "a" * 40, "dirty": None}  # not recorded then: null
    assert new["dataset"]["sha256"]["baby.inter"].startswith("68005aa6")
    migrate.check_preserved(OLD_TRAIN, new, tmp_path)  # every old value is still there
    lossy = copy.deepcopy(new)
    lossy["body"]["history"] = []
    with pytest.raises(SystemExit, match="lose values"):
        migrate.check_preserved(OLD_TRAIN, lossy, tmp_path)


def test_versions_come_from_installed_metadata_not_imports():
    from importlib import metadata

    from mmrs import provenance

    found = provenance.versions()
    assert found["numpy"] == metadata.version("numpy")
    assert found["mmrs"] == metadata.version("mmrs")
    assert set(found) <= {"python", *provenance.PACKAGES}


def test_git_state_is_the_tree_the_process_started_with(monkeypatch):
    from mmrs import provenance

    monkeypatch.setattr(provenance, "_STARTED_WITH", None)
    calls = iter([("abc", False), ("def", True)])

    def fake():
        revision, dirty = next(calls)
        monkeypatch.setattr(provenance, "git_dirty", lambda: dirty)
        return revision

    monkeypatch.setattr(provenance, "git_revision", fake)
    first = provenance.git_state()
    assert first == {"revision": "abc", "dirty": False}
    assert provenance.git_state() == first  # edits after the start do not change the record
    assert records.new_record("benchmark", dataset=records.dataset_entry("x"), config={},
                              metrics={}, argv=["x"])["git"] == first
