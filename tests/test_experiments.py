"""The experiments layer: every committed record is a named point, every point's command is
valid, ``mmrs run`` lists and refuses clearly, and each experiment's ci-profile smoke run writes a
valid record that a second run with the same seed reproduces."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import IMAGE_ENCODER, TEXT_ENCODER, require_packages

from mmrs import records
from mmrs.data import available
from mmrs.experiments import EXPERIMENTS, add_arguments, all_points, run_command, status

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = {
    p.relative_to(ROOT).as_posix()
    for area in ("book", "benchmarks")
    for p in (ROOT / area / "results").rglob("*.json")
}


def test_every_committed_record_is_a_point_and_every_point_has_its_record():
    points = [p.record for _, p in all_points()]
    assert len(points) == len(set(points)), "two points write the same record"
    assert COMMITTED - set(points) == set(), "records that no experiment makes"
    planned = {p.record for _, p in all_points() if p.planned}
    assert set(points) - COMMITTED == planned, "points whose record is not committed"


def test_point_names_are_unique_within_an_experiment():
    for e in EXPERIMENTS.values():
        names = [p.name for p in e.points]
        assert len(names) == len(set(names)), e.name


def _runner_parser(argv: list[str]) -> tuple[argparse.ArgumentParser, list[str]]:
    """The argparse parser of the runner a point calls, and the arguments it gets."""
    if argv[:4] == ["python", "-m", "mmrs", "train"]:
        from mmrs.cli import build_parser

        return build_parser(), argv[3:]
    if argv[:2] == ["python", "-m"]:
        module = __import__(argv[2], fromlist=["parser"])
        return module.parser(), argv[3:]
    raise LookupError(argv[:2])


@pytest.mark.parametrize(
    ("experiment", "point"), all_points(), ids=lambda x: getattr(x, "name", "")
)
def test_every_point_command_parses(experiment, point):
    argv = point.command()
    assert argv[argv.index("--out") + 1] == point.record
    if argv[1].startswith("benchmarks/"):
        assert (ROOT / argv[1]).is_file()
        return
    parser, args = _runner_parser(argv)
    parser.parse_args(args)  # exits (SystemExit) on any invalid value
    for dep in point.depends:
        assert (ROOT / dep).exists(), f"{point.name}: dependency {dep} does not exist"


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    code = run_command(parser.parse_args(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_run_lists_experiments_and_points(capsys):
    code, out, _ = _run([], capsys)
    assert code == 0 and all(name in out for name in EXPERIMENTS)
    code, out, _ = _run(["baselines", "--list"], capsys)
    assert code == 0 and "bpr_amazon-baby.json" in out and "--reg-weight 0.1" in out


def test_run_refuses_unknown_names_with_the_valid_ones(capsys):
    code, _, err = _run(["bm4"], capsys)
    assert code == 2 and "unknown experiment 'bm4'" in err and "bm3" in err
    code, _, err = _run(["bm3", "--point", "nope"], capsys)
    assert code == 2 and "no point 'nope'" in err and "baby-l2-d0.5-r0.1" in err
    code, _, err = _run(["bm3", "--smoke"], capsys)
    assert code == 2 and "--out-dir" in err


def test_dry_run_prints_the_command_without_running(capsys):
    code, out, _ = _run(["feature_models", "--point", "vbpr-r2.0", "--dry-run"], capsys)
    assert code == 0
    assert out.strip() == "$ " + shlex.join(EXPERIMENTS["feature_models"].point("vbpr-r2.0").command())


def test_status_of_a_missing_and_an_invalid_record(tmp_path):
    point = EXPERIMENTS["baselines"].points[0]
    assert status(point, root=tmp_path) == "missing"
    target = tmp_path / point.record
    target.parent.mkdir(parents=True)
    target.write_text("{}")
    assert status(point, root=tmp_path).startswith("invalid")


def _comparable(record: dict) -> dict:
    """A record without what legitimately differs between two identical runs (timings, memory,
    time, the command's output path, and the machine's state such as torch's thread count)."""
    out = {k: v for k, v in record.items()
           if k not in ("timings", "peak_rss_mb", "created_utc", "command", "argv", "body",
                        "machine", "versions")}
    if record["kind"] == "train-set":
        out["runs"] = {v: _comparable(r) for v, r in record["body"]["runs"].items()}
    elif record["kind"] == "train":
        out["history"] = [{k: v for k, v in h.items() if not k.endswith("_s")}
                          for h in record["body"]["history"]]
    if record["kind"] == "matching":
        ladders = record["metrics"].get("ladders", {"frozen": record["metrics"]["ladder"]})
        out["metrics"] = {kind: [{k: v for k, v in row.items() if k != "seconds"} for row in rows]
                          for kind, rows in ladders.items()}
    if record["kind"] == "hierarchical":
        out["metrics"] = {k: v for k, v in record["metrics"].items() if k != "latency"}
    return out


def _metrics_in_range(value, path="metrics"):
    """Every rate (a leaf named like ``recall@20``) is in [0, 1]; differences (gains, in %p)
    are not rates and are skipped."""
    if "gain" in path:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _metrics_in_range(v, f"{path}.{k}")
    elif isinstance(value, float) and "@" in path.rsplit(".", 1)[-1]:
        assert 0.0 <= value <= 1.0, path


SMOKE = [name for name, e in EXPERIMENTS.items() if e.smoke]
NEEDS = {"baselines": "amazon-baby", "bm3": "fashion-small", "feature_models": "fashion-small",
         "hierarchical": "fashion-small", "matching": "abt-buy", "markets": "fashion-small"}
# Optional packages a smoke run imports (features are computed when data/cache lacks them).
PACKAGES = {"bm3": (*TEXT_ENCODER, *IMAGE_ENCODER),
            "feature_models": (*TEXT_ENCODER, *IMAGE_ENCODER),
            "hierarchical": ("open_clip", *TEXT_ENCODER, *IMAGE_ENCODER),
            "matching": ("sklearn", *TEXT_ENCODER),
            "markets": ("captum", *TEXT_ENCODER, *IMAGE_ENCODER)}


@pytest.mark.realdata
@pytest.mark.parametrize("name", SMOKE)
def test_smoke_run_writes_a_valid_reproducible_record(name, tmp_path):
    if not available(NEEDS[name]):
        pytest.skip(f"{NEEDS[name]} is not under MMRS_DATA")
    require_packages(*PACKAGES.get(name, ()))
    made = []
    for attempt in ("a", "b"):
        out = tmp_path / attempt
        done = subprocess.run(
            [sys.executable, "-m", "mmrs", "run", name, "--smoke", "--out-dir", str(out)],
            capture_output=True, text=True, timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        files = sorted(out.glob("*.json"))
        assert files, f"{name}: the smoke run wrote no record"
        made.append([records.load(f) for f in files])
    for first, second in zip(*made, strict=True):
        assert first["command"] and first["git"]["revision"] is not None
        _metrics_in_range(first["metrics"])
        for run in first["body"].get("runs", {}).values():
            _metrics_in_range(run["metrics"])
        assert json.dumps(_comparable(first), sort_keys=True) == json.dumps(
            _comparable(second), sort_keys=True
        ), f"{name}: a second run with the same seed differs"


@pytest.mark.parametrize(
    ("module", "argv", "message"),
    [
        ("mmrs.experiments.bm3", ["--variants", "BM3", "--out", "x.json"], "invalid choice: 'BM3'"),
        ("mmrs.experiments.bm3", ["--max-epochs", "0", "--out", "x.json"], "below the minimum 1"),
        ("mmrs.experiments.bm3", ["--out", "x.txt"], "ends in .json"),
        ("mmrs.experiments.feature_models", ["--model", "vbpr", "--out", "results"], "ends in .json"),
        ("mmrs.experiments.feature_models", ["--model", "vbpr", "--patience", "-1", "--out", "x.json"],
         "below the minimum 0"),
        ("mmrs.experiments.matching", ["--dataset", "abt", "--out", "x.json"], "invalid choice: 'abt'"),
        ("mmrs.experiments.hierarchical", ["--profile", "huge", "--out", "x.json"],
         "invalid choice: 'huge'"),
        ("mmrs.experiments.markets", ["--profile", "huge", "--out", "x.json"],
         "invalid choice: 'huge'"),
    ],
)
def test_runners_refuse_bad_arguments_before_any_work(module, argv, message, capsys, tmp_path,
                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = __import__(module, fromlist=["main"])
    with pytest.raises(SystemExit) as exit_info:
        runner.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_feature_models_set_lists_the_valid_keys(capsys, tmp_path):
    from mmrs.experiments import feature_models

    with pytest.raises(SystemExit):
        feature_models.main(["--model", "freedom", "--set", "dropuot=0.9",
                             "--out", str(tmp_path / "x.json")])
    err = capsys.readouterr().err
    assert "valid keys:" in err and "dropout" in err and "reg_weight" in err
