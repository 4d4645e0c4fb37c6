"""The command line: every bad argument is one line on stderr, exit 2, before any data are read."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import mmrs.data.interactions as interactions
from mmrs import cli, records
from mmrs.data import synthetic_pairs
from mmrs.data.registry import REGISTRY, sha256sum


def write_folder(folder, n_users: int = 40, n_items: int = 60, seed: int = 0):
    """A tiny MMRec-format dataset (synthetic pairs, no x_label: MMRec's rule splits it);
    at least 50 items, since the records hold metrics @50."""
    folder.mkdir(parents=True, exist_ok=True)
    users, items = synthetic_pairs(n_users, n_items, seed=seed)
    lines = "".join(f"{u}\t{i}\n" for u, i in zip(users, items, strict=True))
    path = folder / f"{folder.name.split('-')[-1]}.inter"
    path.write_text("userID\titemID\n" + lines)
    return path


@pytest.fixture()
def folder(tmp_path):
    write_folder(tmp_path / "toy")
    return tmp_path / "toy"


@pytest.fixture()
def no_loading(monkeypatch):
    """Fail the test if the command reads the interactions."""

    def refuse(*args, **kwargs):
        raise AssertionError("data were loaded before the arguments were checked")

    monkeypatch.setattr(interactions, "load_interactions", refuse)


def run_main(argv, capsys):
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_user_error(code, err, *needles):
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mmrs: error: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def train_args(folder, out, *extra, model="bpr"):
    return ["train", "--model", model, "--dataset", str(folder), "--out", str(out), "--no-progress",
            *extra]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--max-epochs", "0"], "--max-epochs"),
        (["--max-epochs", "two"], "--max-epochs"),
        (["--batch-size", "-5"], "--batch-size"),
        (["--embedding-dim", "0"], "--embedding-dim"),
        (["--patience", "-1"], "--patience"),
        (["--torch-threads", "0"], "--torch-threads"),
        (["--lr", "0"], "--lr"),
        (["--lr", "nan"], "--lr"),
        (["--reg-weight", "-0.1"], "--reg-weight"),
        (["--dropout", "1"], "--dropout"),
        (["--dropout", "-0.2"], "--dropout"),
        (["--n-layers", "-1"], "--n-layers"),
        (["--n-layers", "2"], "--n-layers"),  # BPR has no graph layers
        (["--modalities", "image"], "--modalities"),  # nor modalities
        (["--set", "embedding_dim"], "--set"),  # not KEY=VALUE
        (["--set", "embedding_dim='big'"], "--set"),  # wrong kind of value
        (["--set", "embedding_dim=8", "--embedding-dim", "16"], "--set"),  # given twice
        (["--model", "bpx"], "--model"),
        (["--profile", "huge"], "--profile"),
        (["--device", "tpu"], "--device"),
    ],
)
def test_bad_argument_is_one_line_before_loading(tmp_path, folder, no_loading, capsys, extra, needle):
    out = tmp_path / "x.json"
    code, _, err = run_main(train_args(folder, out, *extra), capsys)
    assert_user_error(code, err, needle)
    assert not out.exists()


@pytest.mark.parametrize("kind", ["suffix", "folder", "parent-is-file"])
def test_bad_out_path(tmp_path, folder, no_loading, capsys, kind):
    if kind == "suffix":
        out = tmp_path / "x.txt"
    elif kind == "folder":
        out = tmp_path / "records.json"
        out.mkdir()
    else:
        (tmp_path / "plain").write_text("a file")
        out = tmp_path / "plain" / "x.json"
    code, _, err = run_main(train_args(folder, out), capsys)
    assert_user_error(code, err, "--out")
    assert out.is_dir() if kind == "folder" else not out.exists()


def test_misspelt_dataset_lists_names(tmp_path, no_loading, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(train_args("amazon-babby", tmp_path / "x.json"), capsys)
    assert_user_error(code, err, "--dataset", "did you mean 'amazon-baby'", *REGISTRY)
    assert not (tmp_path / "x.json").exists()


def test_registry_dataset_without_data_is_one_line(tmp_path, no_loading, capsys, monkeypatch):
    monkeypatch.delenv("MMRS_DATA", raising=False)
    code, _, err = run_main(train_args("amazon-baby", tmp_path / "x.json"), capsys)
    assert_user_error(code, err, "MMRS_DATA")


def test_dataset_error_while_loading_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "bad.inter").write_text("userID\titemID\n0\t1\n0\t1\n")
    out = tmp_path / "x.json"
    code, _, err = run_main(train_args(bad, out), capsys)
    assert_user_error(code, err, "duplicate")
    assert not out.exists()


def test_unknown_set_key_lists_valid_keys(tmp_path, folder, no_loading, capsys):
    import dataclasses

    from mmrs.models import MODEL_CONFIGS

    code, _, err = run_main(train_args(folder, tmp_path / "x.json", "--set", "embeding_dim=8"), capsys)
    assert_user_error(code, err, "--set", "embeding_dim", "did you mean 'embedding_dim'")
    for field in dataclasses.fields(MODEL_CONFIGS["bpr"]):
        assert field.name in err


def test_set_value_reaches_the_model(tmp_path, folder, capsys):
    out = tmp_path / "x.json"
    code, _, _ = run_main(
        train_args(folder, out, "--max-epochs", "1", "--set", "embedding_dim=8", "reg_weight=0.01"),
        capsys,
    )
    assert code == 0
    hparams = json.loads(out.read_text())["config"]["model"]
    assert hparams["embedding_dim"] == 8 and hparams["reg_weight"] == 0.01


def test_model_names_match_the_library():
    from mmrs.models import MODEL_CONFIGS, MODELS

    assert cli.MODEL_NAMES == MODELS
    assert set(MODEL_CONFIGS) == set(MODELS)


def test_train_writes_a_record(tmp_path, folder, capsys):
    out = tmp_path / "sub" / "x.json"
    code, stdout, _ = run_main(train_args(folder, out, "--max-epochs", "1", "--batch-size", "64"), capsys)
    assert code == 0
    record = records.load(out)
    assert record["kind"] == "train" and record["model"] == "bpr"
    assert record["body"]["epochs_run"] == 1
    assert record["metrics"]["valid"]["recall@20"] is not None
    assert record["dataset"]["name"] == str(folder)
    assert record["config"]["train"]["batch_size"] == 64
    assert record["argv"][:4] == ["python", "-m", "mmrs", "train"]
    assert str(out) in stdout


def test_split_seed_draws_another_split_and_is_recorded(tmp_path, folder, capsys):
    outs = {}
    for seed in (None, 2024):
        outs[seed] = tmp_path / f"split{seed}.json"
        extra = () if seed is None else ("--split-seed", str(seed))
        code, _, _ = run_main(train_args(folder, outs[seed], "--max-epochs", "1", *extra, model="pop"), capsys)
        assert code == 0
    default, other = (records.load(outs[s]) for s in (None, 2024))
    assert default["seeds"] == {"model": 2023, "split": 2023}
    assert other["seeds"] == {"model": 2023, "split": 2024}
    # the per-user counts do not depend on the seed, which interactions land where does
    assert other["dataset"]["sizes"]["split"] == default["dataset"]["sizes"]["split"]
    assert other["metrics"]["test"] != default["metrics"]["test"]


def test_split_seed_on_a_dataset_with_its_own_split_is_refused(tmp_path, folder, capsys):
    inter = next(folder.glob("*.inter"))
    lines = inter.read_text().splitlines()
    labels = [0, 1, 2]  # train / valid / test, cycled: a split given by the file
    inter.write_text("\n".join([lines[0] + "\tx_label"] + [
        f"{line}\t{labels[k % 3]}" for k, line in enumerate(lines[1:])]) + "\n")
    out = tmp_path / "x.json"
    code, _, err = run_main(train_args(folder, out, "--max-epochs", "1", "--split-seed", "7", model="pop"), capsys)
    assert code == 2 and "--split-seed" in err and "drop --split-seed" in err
    assert "Traceback" not in err and not out.exists()


def test_folder_named_like_registry_is_recorded_as_path_with_hash(tmp_path, capsys):
    folder = tmp_path / "amazon-baby"
    inter = write_folder(folder)  # an "altered" baby.inter
    assert inter.name == "baby.inter"
    out = tmp_path / "pop.json"
    code, _, _ = run_main(train_args(folder, out, model="pop"), capsys)
    assert code == 0
    dataset = records.load(out)["dataset"]
    assert dataset["name"] == str(folder) != "amazon-baby"
    assert dataset["source"] == str(folder.resolve())
    assert dataset["sha256"] == {"baby.inter": sha256sum(inter)}
    assert dataset["sha256"]["baby.inter"] != REGISTRY["amazon-baby"].files["baby.inter"]


HEAVY = ("torch", "numpy", "pandas")
PROBE = """
import runpy, sys
sys.argv = ["mmrs", *{argv!r}]
try:
    runpy.run_module("mmrs", run_name="__main__", alter_sys=True)
except SystemExit as exit_:
    code = exit_.code
print("HEAVY", sorted(m for m in {heavy!r} if m in sys.modules), "CODE", code)
"""


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["run", "--help"], ["data", "--help"]])
def test_help_imports_nothing_heavy(argv):
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY [] CODE 0" in result.stdout, result.stdout[-500:]


def test_parse_error_subprocess_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mmrs", "train", "--model", "bpr", "--dataset", "x", "--out",
         str(tmp_path / "x.json"), "--batch-size", "-5"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert_user_error(result.returncode, result.stderr, "--batch-size")


def test_run_without_experiments_module(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mmrs.experiments", None)
    code, _, err = run_main(["run", "anything"], capsys)
    assert_user_error(code, err, "mmrs.experiments")


@pytest.mark.parametrize("stand_in", [False, True])
def test_run_validates_its_arguments(monkeypatch, capsys, stand_in):
    if stand_in:
        monkeypatch.setitem(sys.modules, "mmrs.experiments", None)
    code, _, err = run_main(["run", "x", "--point"], capsys)
    assert_user_error(code, err, "--point")


def test_data_list_names_every_dataset(capsys):
    code, out, _ = run_main(["data", "list"], capsys)
    assert code == 0
    for name in REGISTRY:
        assert name in out


def test_data_verify_misspelt_name(capsys):
    code, _, err = run_main(["data", "verify", "amazon-sprots"], capsys)
    assert_user_error(code, err, "did you mean 'amazon-sports'")



def test_model_that_does_not_fit_the_data_is_one_line(tmp_path, folder, capsys):
    out = tmp_path / "x.json"
    code, _, err = run_main(train_args(folder, out, model="vbpr"), capsys)  # no feature files
    assert_user_error(code, err, "vbpr")
    assert not out.exists()


def test_too_few_items_is_one_line(tmp_path, capsys):
    small = tmp_path / "small"
    write_folder(small, n_items=30)
    out = tmp_path / "x.json"
    code, _, err = run_main(train_args(small, out), capsys)
    assert_user_error(code, err, "--dataset", "30 items")
    assert not out.exists()


def test_run_stand_in_parser_without_experiments_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "mmrs.experiments", None)
    args = cli.build_parser().parse_args(["run", "bm3", "--point", "a", "b", "--dry-run"])
    assert (args.experiment, args.point, args.dry_run) == ("bm3", ["a", "b"], True)


def test_unavailable_device_is_one_line_before_loading(tmp_path, folder, no_loading, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    code, _, err = run_main(train_args(folder, tmp_path / "x.json", "--device", "cuda"), capsys)
    assert_user_error(code, err, "--device")


def test_data_command_without_its_module(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mmrs.data.commands", None)
    code, _, err = run_main(["data", "verify", "amazon-baby"], capsys)
    assert_user_error(code, err, "mmrs.data.commands")
