"""The replication workflow (workflow/Snakefile): its DAG has every committed record as a target
and nothing else, and its dry run lists exactly the points that are out of date."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmrs.experiments import EXPERIMENTS, all_points, status
from mmrs.experiments import workflow as wf

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "workflow" / "Snakefile"


def test_the_dag_covers_every_committed_record_and_nothing_else():
    targets = wf.targets()
    assert len(targets) == len(set(targets)), "two points write the same record"
    committed = wf.committed_records(ROOT)  # the records in this checkout (all committed in CI)
    assert committed - set(targets) == set(), "committed records no job makes"
    planned = {r for r, (_, p) in wf.points_by_record().items() if p.planned}
    assert set(targets) - committed == planned, "targets not committed (and not planned)"
    assert set(wf.points_by_record()) == set(targets)


def test_each_job_runs_its_points_command_with_this_interpreter_and_its_threads():
    for _, point in all_points():
        line = wf.shell_command(point, "/x/python")
        assert f"--out {point.record}" in line
        assert line.startswith("/x/python ") and " python " not in line
        expected = 2 if point.name == "matching_scaling_100k_2threads" else 1
        assert wf.threads(point) == expected, point.name


def _record_copy(tmp_path: Path, record: str, **changes) -> Path:
    data = json.loads((ROOT / record).read_text())
    for key, value in changes.items():
        data[key] = value
    path = tmp_path / record
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_a_record_whose_data_checksums_changed_is_stale(tmp_path):
    point = EXPERIMENTS["baselines"].point("bpr-baby")
    original = json.loads((ROOT / point.record).read_text())["dataset"]
    _record_copy(tmp_path, point.record, dataset=original)
    assert wf.data_state(point, tmp_path) == "current"
    altered = {**original, "sha256": {**original["sha256"], "baby.inter": "0" * 64}}
    _record_copy(tmp_path, point.record, dataset=altered)
    assert wf.data_state(point, tmp_path) == "stale (data: amazon-baby changed)"
    # fashion-sim-* records are made from fashion-small: found by their file names
    sim = EXPERIMENTS["bm3"].point("sim-ci")
    original = json.loads((ROOT / sim.record).read_text())["dataset"]
    altered = {**original, "sha256": {**original["sha256"], "styles.csv": "0" * 64}}
    _record_copy(tmp_path, sim.record, dataset=altered)
    assert wf.data_state(sim, tmp_path) == "stale (data: fashion-small changed)"
    # synthetic data (no checksums): the code decides alone
    bench = EXPERIMENTS["benchmarks"].point("matching_scaling")
    _record_copy(tmp_path, bench.record)
    assert wf.data_state(bench, tmp_path) == "current"


def test_stamps_say_the_state_and_are_newer_than_an_out_of_date_record(tmp_path):
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    if not head:
        pytest.skip("not a git checkout")
    current = EXPERIMENTS["baselines"].point("bpr-baby")
    stale = EXPERIMENTS["baselines"].point("lightgcn-baby")
    _record_copy(tmp_path, current.record, git={"revision": head, "dirty": False})
    dataset = json.loads((ROOT / stale.record).read_text())["dataset"]
    dataset = {**dataset, "sha256": {**dataset["sha256"], "baby.inter": "0" * 64}}
    _record_copy(tmp_path, stale.record, git={"revision": head, "dirty": False}, dataset=dataset)
    future = time.time() + 3600  # a record touched after the stamp was written
    os.utime(tmp_path / stale.record, (future, future))

    states = wf.write_stamps(tmp_path)
    assert states[current.record] == "current"
    assert states[stale.record] == "stale (data: amazon-baby changed)"
    assert states[EXPERIMENTS["bm3"].point("baby").record] == "missing"
    cur, old = (tmp_path / wf.stamp_path(p) for p in (current, stale))
    assert cur.read_text() == "current\n" and old.read_text() == states[stale.record] + "\n"
    assert old.stat().st_mtime > (tmp_path / stale.record).stat().st_mtime
    before = cur.stat().st_mtime_ns
    wf.write_stamps(tmp_path)
    assert cur.stat().st_mtime_ns == before, "an unchanged state must not touch its stamp"


def _snakemake() -> str | None:
    return shutil.which("snakemake", path=str(Path(sys.executable).parent)) or \
        shutil.which("snakemake")


def test_the_dry_run_lists_exactly_the_out_of_date_points():
    exe = _snakemake()
    if exe is None:
        pytest.skip("snakemake is not installed (pip install -e '.[workflow]')")
    start = time.monotonic()
    done = subprocess.run([exe, "--snakefile", str(SNAKEFILE), "-n", "--quiet", "host"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert time.monotonic() - start < 60
    jobs = set(re.findall(r"^\s+output: (\S+)", done.stdout, flags=re.M))

    states = {p.record: wf.state(p) for _, p in all_points()}
    expected = {r for r, s in states.items() if wf.out_of_date(s)}
    assert jobs == expected, (
        f"dry run only: {sorted(jobs - expected)}; not in the dry run: {sorted(expected - jobs)}"
    )
    # ... and those are the points `python -m mmrs run EXP --list` does not call current, plus
    # any whose data changed (the registry's checksums differ from the record's)
    code = {p.record for _, p in all_points() if status(p) != "current"}
    assert code <= jobs
    assert all(states[r].startswith("stale (data:") for r in jobs - code)


def test_record_seconds_from_process_time_or_from_its_parts():
    from mmrs.experiments.workflow import record_seconds

    assert record_seconds({"kind": "benchmark", "timings": {"process_s": 12.5}}) == 12.5
    train = {"kind": "train", "timings": {"train_s_per_epoch": 2.0, "eval_s_per_epoch": 0.5,
                                         "test_eval_s": 1.0, "data_s": 3.0},
             "body": {"epochs_run": 10}}
    assert record_seconds(train) == 10 * 2.5 + 1.0 + 3.0  # 29 s
    assert record_seconds({"kind": "train-set", "timings": {"data_s": 4.0},
                           "body": {"runs": {"a": train, "b": train}}}) == 2 * 29.0 + 4.0
    assert record_seconds({"kind": "benchmark", "timings": {}}) is None


def test_schedule_makespan_longest_first():
    from mmrs.experiments.workflow import schedule_makespan

    # LPT on 2 cores: 3|3, then 2 -> 5|3, 2 -> 5|5, 2 -> 7|5 (the optimum is 6: LPT is greedy)
    assert schedule_makespan([(3, 1), (3, 1), (2, 1), (2, 1), (2, 1)], 2) == 7.0
    # a 2-thread job waits for both cores: 4 on one core, then 5 on both -> 9
    assert schedule_makespan([(5, 2), (4, 1)], 2) == 9.0
    assert schedule_makespan([], 2) == 0.0
