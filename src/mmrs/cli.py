"""Command line: ``python -m mmrs train --model lightgcn --dataset amazon-baby --out x.json``.

Subcommands:

``train``  load a dataset (registry name or MMRec-format folder; real data are read from
           ``$MMRS_DATA``), build a model, run :func:`mmrs.train.train` with the profile's sizes
           (``--profile ci|full``, default ``$MMRS_PROFILE`` or ``ci``) and write the JSON record.
``run``    run a named experiment (:func:`mmrs.experiments.run_command`).
``data``   list, verify, fetch or pack the registry's datasets (:mod:`mmrs.data.commands`).

This module is a thin dispatcher: its top level imports nothing heavy (no torch, numpy or
pandas), so ``python -m mmrs --help`` answers at once. Every argument and the output path are
checked before any data are loaded; a user error prints one line ``mmrs: error: ...`` on stderr
and exits with status 2 (no traceback). Real bugs still raise.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import os
import shlex
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from .config import DEVICE_ENV, DEVICES, PROFILE_ENV, PROFILES

MODEL_NAMES: tuple[str, ...] = ("pop", "bpr", "lightgcn", "bm3", "vbpr", "freedom", "itemknn", "lattice", "buir",
                                 "mmgcn", "grcn", "dualgnn")
"""The ``--model`` choices; equal to :data:`mmrs.models.MODELS` (tested), listed here so that
building the parser does not import torch."""

EXIT_USAGE = 2
"""Exit status of a user error (as argparse's)."""


class UsageError(Exception):
    """A mistake in the command line or its inputs: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line ``mmrs: error: ...`` and exit status 2."""

    def error(self, message: str) -> NoReturn:
        _print_error(f"{message} (see `{self.prog} --help`)")
        sys.exit(EXIT_USAGE)


def _print_error(message: str) -> int:
    text = " ".join(str(message).split())  # one line, whatever the message held
    print(f"mmrs: error: {text}", file=sys.stderr)
    return EXIT_USAGE


# --- argument types (argparse names the argument in its message) -------------------------------


def _int_at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def _float_in(low: float, high: float | None, low_open: bool, high_open: bool = True):
    if high is None:
        wanted = f"> {low}" if low_open else f">= {low}"
    else:
        wanted = f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number {wanted}, got {text!r}") from None
        ok = value == value and value not in (float("inf"), float("-inf"))
        ok = ok and (value > low if low_open else value >= low)
        if high is not None:
            ok = ok and (value < high if high_open else value <= high)
        if not ok:
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text}")
        return value

    parse.__name__ = f"number {wanted}"
    return parse


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


# --- the parser ---------------------------------------------------------------------------------


def _add_train(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("train", help="train and evaluate one model, write a JSON record")
    run.add_argument("--model", required=True, choices=MODEL_NAMES)
    run.add_argument("--dataset", required=True, help="registry name (amazon-baby) or folder")
    run.add_argument("--profile", choices=sorted(PROFILES), default=None,
                     help=f"default ${PROFILE_ENV} or ci")
    run.add_argument("--out", required=True, help="path of the JSON record (*.json)")
    run.add_argument("--seed", type=int, default=2023)
    run.add_argument("--split-seed", type=int, default=None,
                     help="seed of MMRec's split rule for a dataset without x_label (default 2023)")
    run.add_argument("--max-epochs", type=_int_at_least(1), default=None, help="default: the profile's")
    run.add_argument("--patience", type=_int_at_least(0), default=None, help="default: the profile's")
    run.add_argument("--batch-size", type=_int_at_least(1), default=None, help="default 2048")
    run.add_argument("--lr", type=_float_in(0, None, low_open=True), default=None, help="default 1e-3")
    run.add_argument("--embedding-dim", type=_int_at_least(1), default=None, help="default 64")
    run.add_argument("--n-layers", type=_int_at_least(0), default=None,
                     help="graph layers: LightGCN (default 2), BM3 (1), FREEDOM user-item (2)")
    run.add_argument("--reg-weight", type=_float_in(0, None, low_open=False), default=None,
                     help="default 1e-4 (BM3: 0.1); FREEDOM: weight of its feature BPR losses")
    run.add_argument("--dropout", type=_float_in(0, 1, low_open=False), default=None,
                     help="BM3 target dropout (0.5); FREEDOM edge-pruning ratio (0.8)")
    run.add_argument(
        "--modalities",
        nargs="*",
        choices=["image", "text"],
        default=None,
        help="BM3/VBPR/FREEDOM modalities (default: every feature file the dataset has; "
        "BM3 with none = ID-only)",
    )
    run.add_argument("--no-inter", action="store_true", help="BM3 without L_align (inter)")
    run.add_argument("--no-intra", action="store_true", help="BM3 without L_mask (intra)")
    run.add_argument(
        "--squared-reg",
        action="store_true",
        default=None,
        help="square the L2 norms in the regulariser (MMRec does not)",
    )
    run.add_argument(
        "--set",
        dest="settings",
        metavar="KEY=VALUE",
        type=_key_value,
        nargs="+",
        action="extend",
        default=[],
        help="any hyper-parameter of the model's config (VALUE a Python literal, e.g. "
        "--set knn_k=5 modalities=\"('image',)\"); an unknown KEY lists the valid ones",
    )
    run.add_argument("--device", choices=list(DEVICES), default=None,
                     help="where to train: auto (CUDA, then MPS, else CPU), cpu, cuda or mps "
                     f"(default: ${DEVICE_ENV} or cpu)")
    _add_torch_threads(run)
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _add_torch_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--torch-threads",
        type=_int_at_least(1),
        default=None,
        help="opt-in torch.set_num_threads(N); default: leave torch's setting alone. On a shared "
        "2-core machine 1 thread trains several times faster than 2 when other jobs compete.",
    )


def _add_run(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="run a named experiment (mmrs.experiments)")
    import importlib

    try:  # light by design (no torch); it owns its arguments
        experiments = importlib.import_module("mmrs.experiments")
    except ModuleNotFoundError as err:
        if err.name != "mmrs.experiments":
            raise
        experiments = None  # type: ignore[assignment]
    add_arguments = getattr(experiments, "add_arguments", None)
    if add_arguments is not None:
        add_arguments(run)
        return
    # a stand-in until mmrs.experiments exists (the command then says it is missing)
    run.add_argument("experiment", nargs="?", default=None, help="experiment name")
    run.add_argument("--point", metavar="NAME", nargs="+", action="extend", default=[],
                     help="run only these points of the experiment")
    run.add_argument("--list", action="store_true", help="list experiments / their points")
    run.add_argument("--profile", choices=sorted(PROFILES), default=None,
                     help=f"default ${PROFILE_ENV} or ci")
    run.add_argument("--dry-run", action="store_true", help="print what would run, run nothing")
    _add_torch_threads(run)


def _add_data(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser("data", help="list, verify, fetch or pack the registry's datasets")
    actions = data.add_subparsers(dest="action", required=True, metavar="{list,verify,fetch,pack}")
    actions.add_parser("list", help="registry names and whether each is under $MMRS_DATA")
    for action, text in (
        ("verify", "check a dataset's files against the registry's sha256"),
        ("fetch", "get a dataset's files into $MMRS_DATA"),
        ("pack", "pack a dataset's files"),
    ):
        sub = actions.add_parser(action, help=text)
        sub.add_argument("name", help="registry name, or 'all'")
        if action == "fetch":
            sub.add_argument("--base-url", default=None,
                             help="where the archives are (default: $MMRS_DATA_URL, else the "
                             "book's release assets)")
            sub.add_argument("--no-progress", action="store_true", help="no download progress bar")
        if action == "pack":
            sub.add_argument("--out-dir", default=None,
                             help="folder for the archive (default: the per-user cache)")
            sub.add_argument("--update-registry", action="store_true",
                             help="write the archive's sha256 into mmrs/data/archives.json")


def build_parser() -> argparse.ArgumentParser:
    """The ``mmrs`` argument parser (imports nothing heavy)."""
    parser = _Parser(
        prog="mmrs",
        description="Multimodal recommender systems, tested: train a model, run an experiment, "
        "or manage the datasets.",
        epilog="example: python -m mmrs train --model lightgcn --dataset amazon-baby --out x.json",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,run,data}")
    _add_train(commands)
    _add_run(commands)
    _add_data(commands)
    return parser


# --- checks done before any data are loaded -----------------------------------------------------


def check_out_path(out: str | Path) -> Path:
    """``out`` must end in ``.json``, not be a folder, and its folder must exist or be creatable
    and be writable; raises :class:`UsageError` otherwise (nothing is created)."""
    path = Path(out).expanduser()
    if path.suffix.lower() != ".json":
        raise UsageError(f"argument --out: {str(out)!r} must end in .json")
    if path.is_dir():
        raise UsageError(f"argument --out: {str(out)!r} is a folder; give the path of a .json file")
    parent = path.parent if str(path.parent) else Path(".")
    ancestor = parent
    while not ancestor.exists():
        if ancestor.is_symlink() or ancestor == ancestor.parent:
            raise UsageError(f"argument --out: folder {str(parent)!r} cannot be created")
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(
            f"argument --out: {str(ancestor)!r} is a file, so folder {str(parent)!r} cannot exist"
        )
    what = "is not writable" if ancestor == parent else "cannot be created (no write access)"
    try:  # a real probe (os.access says yes to root everywhere): make and remove a temp file
        with tempfile.NamedTemporaryFile(dir=ancestor, prefix=".mmrs-probe-", suffix=".tmp"):
            pass
    except OSError as err:
        raise UsageError(f"argument --out: folder {str(parent)!r} {what} ({err.strerror})") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"argument --out: {str(out)!r} exists and is not writable")
    return path


def check_dataset(spec: str) -> None:
    """``spec`` must be a registry name (whose folder exists under ``$MMRS_DATA``) or a folder.

    Cheap: no file is read or hashed. A misspelt name gets a guess and the registry names."""
    from .data.registry import REGISTRY, DatasetError, dataset_path, unknown_dataset_message

    if spec in REGISTRY:
        dataset_path(spec, verify=False)  # MMRS_DATA set, folder present (DatasetError if not)
        return
    path = Path(spec).expanduser()
    if path.is_dir():
        return
    if path.exists():
        raise DatasetError(f"argument --dataset: {spec!r} is a file; pass a registry name or a folder")
    raise DatasetError(f"argument --dataset: {unknown_dataset_message(spec)}")


def _parse_literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word is a string (checked against the field's default below)


def _check_value(model: str, key: str, value: Any, default: Any, annotation: Any) -> Any:
    """Coerce ``value`` to the kind of ``default`` where that is unambiguous; reject mismatches."""
    import dataclasses

    if default is dataclasses.MISSING or default is None:
        if "tuple" in str(annotation):
            if isinstance(value, str):
                return (value,)
            if isinstance(value, list):
                return tuple(value)
        return value
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, tuple):
        ok = isinstance(value, list | tuple)
        value = tuple(value) if ok else value
    else:
        ok = True
    if not ok:
        raise UsageError(
            f"argument --set: {model} expects {type(default).__name__} for {key} "
            f"(default {default!r}), got {value!r}"
        )
    return value


_FLAG_KEYS: tuple[tuple[str, str, str], ...] = (
    # (args attribute, flag, config key)
    ("embedding_dim", "--embedding-dim", "embedding_dim"),
    ("n_layers", "--n-layers", "n_layers"),
    ("reg_weight", "--reg-weight", "reg_weight"),
    ("dropout", "--dropout", "dropout"),
    ("modalities", "--modalities", "modalities"),
    ("no_inter", "--no-inter", "use_inter"),
    ("no_intra", "--no-intra", "use_intra"),
    ("squared_reg", "--squared-reg", "squared_reg"),
)


def model_hparams(args: argparse.Namespace) -> dict[str, Any]:
    """The model's hyper-parameters from the flags and ``--set``, validated against
    :data:`mmrs.models.MODEL_CONFIGS` (keys, kinds of values, and the config's own checks)."""
    import dataclasses

    from .models import MODEL_CONFIGS

    config_class = MODEL_CONFIGS.get(args.model)
    fields = {f.name: f for f in dataclasses.fields(config_class)} if config_class else {}
    valid = ", ".join(sorted(fields)) or "none"
    hparams: dict[str, Any] = {}
    source: dict[str, str] = {}
    for attribute, flag, key in _FLAG_KEYS:
        value = getattr(args, attribute)
        if value is None or value is False:
            continue
        if attribute in ("no_inter", "no_intra"):
            value = False
        elif attribute == "modalities":
            value = tuple(value)
        if key == "n_layers" and key not in fields and "n_ui_layers" in fields:
            key = "n_ui_layers"  # FREEDOM: --n-layers sets the user-item graph's layers
        if key not in fields:
            raise UsageError(f"argument {flag}: does not apply to {args.model} (its settings: {valid})")
        hparams[key], source[key] = value, f"argument {flag}"
    for key, text in args.settings:
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            guess = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(
                f"argument --set: unknown key {key!r} for {args.model}; {guess}valid keys: {valid}"
            )
        if key in source and source[key] != "argument --set":
            raise UsageError(f"argument --set: {key} is also given by {source[key]}; give it once")
        field = fields[key]
        default = field.default
        if default is dataclasses.MISSING and field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        value = _parse_literal(text)
        hparams[key] = _check_value(args.model, key, value, default, field.type)
        source[key] = "argument --set"
    try:
        if config_class is not None:
            config_class(**hparams)
    except (TypeError, ValueError) as err:
        raise UsageError(f"invalid settings for {args.model}: {err}") from None
    return hparams


def _train_config(args: argparse.Namespace):
    import dataclasses

    from . import train as train_module
    from .config import profile
    from .train import TrainConfig

    try:
        prof = profile(args.profile)
    except ValueError as err:
        raise UsageError(str(err)) from None
    overrides: dict[str, Any] = {}
    if args.device is not None:
        if "device" not in {f.name for f in dataclasses.fields(TrainConfig)}:
            raise UsageError("argument --device: this version of the trainer has no device setting")
        overrides["device"] = args.device
    try:
        config = TrainConfig.from_profile(
            prof,
            max_epochs=args.max_epochs,
            patience=args.patience,
            batch_size=args.batch_size,
            lr=args.lr,
            progress=not args.no_progress,
            extra={"profile": prof.name},
            **overrides,
        )
    except ValueError as err:
        raise UsageError(f"invalid training settings: {err}") from None
    resolve_device = getattr(train_module, "resolve_device", None)
    if resolve_device is not None:
        try:
            resolve_device(getattr(config, "device", args.device))
        except (RuntimeError, ValueError) as err:
            origin = "argument --device" if args.device is not None else DEVICE_ENV
            raise UsageError(f"{origin}: {err}") from None
    return prof, config


def _metric(block: dict | None, key: str) -> str:
    return "n/a" if not block or block.get(key) is None else f"{block[key]:.4f}"


def summary_line(record: dict, path: Path) -> str:
    """One line about a ``train`` record (:mod:`mmrs.records`) written to ``path``."""
    metrics, body, timings = record["metrics"], record["body"], record["timings"]
    dataset = record["dataset"]["name"]
    peak = record.get("peak_rss_mb")
    return (
        f"{record['model']} on {dataset}: best epoch {body['best_epoch']} of "
        f"{body['epochs_run']}, valid recall@20 {_metric(metrics.get('valid'), 'recall@20')}, "
        f"test recall@20 {_metric(metrics.get('test'), 'recall@20')} "
        f"ndcg@20 {_metric(metrics.get('test'), 'ndcg@20')}; "
        f"{timings.get('train_s_per_epoch', 0.0):.2f} s/epoch train, "
        f"{timings.get('eval_s_per_epoch', 0.0):.2f} s eval; "
        + (f"peak RSS {peak:.0f} MiB " if peak is not None else "")
        + f"-> {path}"
    )


def _train(args: argparse.Namespace, command: str) -> int:
    # 1. everything that needs no data: output path, dataset name, model and trainer settings
    out = check_out_path(args.out)
    check_dataset(args.dataset)
    hparams = model_hparams(args)
    prof, config = _train_config(args)
    # 2. now the work
    if args.torch_threads is not None:
        import torch

        torch.set_num_threads(args.torch_threads)
    from .data.interactions import load_interactions
    from .models import build_model
    from .records import save
    from .train import train

    split_seed = {} if args.split_seed is None else {"seed": args.split_seed}
    data = load_interactions(args.dataset, **split_seed)
    if split_seed and "seed" not in (data.split_source or ""):
        raise UsageError(f"argument --split-seed: {data.name} comes with its own split "
                         f"({data.split_source}); drop --split-seed")
    if max(config.ks) > data.n_items:
        raise UsageError(
            f"argument --dataset: {data.name} has {data.n_items} items, fewer than the largest "
            f"cut-off of the metrics ({max(config.ks)})"
        )
    try:
        model = build_model(args.model, data, **hparams)
    except ValueError as err:  # e.g. a multimodal model on a dataset without feature files
        raise UsageError(f"{args.model} on {data.name}: {err}") from None
    print(data, file=sys.stderr)
    record = train(model, data, config, seed=args.seed, command=command)
    if "argv" in record:  # this command, also when main() is called in-process
        record["argv"] = ["python", "-m", "mmrs", *args.argv]
    path = save(record, out)
    print(summary_line(record, path))
    return 0


def _import_optional(module: str, function: str, what: str) -> Callable[[argparse.Namespace], int]:
    """``module.function``, or a :class:`UsageError` saying that ``what`` is not available."""
    import importlib

    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name != module:
            raise
        raise UsageError(f"{what} is not available in this version ({module} is missing)") from None
    handler = getattr(mod, function, None)
    if handler is None:
        raise UsageError(f"{what} is not available in this version ({module}.{function} is missing)")
    return handler


def _run(args: argparse.Namespace, command: str) -> int:
    handler = _import_optional("mmrs.experiments", "run_command", "`mmrs run`")
    return int(handler(args) or 0)


def data_list() -> int:
    """``mmrs data list``: each registry name, whether its files are under ``$MMRS_DATA``
    (presence only; ``mmrs data verify NAME`` checks the sha256) and its description."""
    from .data.registry import DATA_ENV, REGISTRY, DatasetError, data_root

    try:
        root: Path | None = data_root()
        note = f"{DATA_ENV}={root}"
    except DatasetError as err:
        root, note = None, str(err)
    print(note)
    width = max(map(len, REGISTRY))
    for name, spec in sorted(REGISTRY.items()):
        if root is None:
            state = "unknown"
        else:
            folder = root / spec.folder
            missing = [f for f in spec.files if not (folder / f).is_file()]
            state = "present" if not missing else "missing" if len(missing) == len(spec.files) else (
                f"incomplete (no {', '.join(missing)})"
            )
        print(f"{name:<{width}}  {state:<8}  {spec.description}")
    return 0


def _data(args: argparse.Namespace, command: str) -> int:
    if args.action == "list":
        return data_list()
    from .data.registry import get_spec

    if args.name != "all":
        get_spec(args.name)  # a misspelt name: one line with a guess and the registry names
    handler = _import_optional("mmrs.data.commands", "main", f"`mmrs data {args.action}`")
    return int(handler(args) or 0)


_COMMANDS: dict[str, Callable[[argparse.Namespace, str], int]] = {
    "train": _train,
    "run": _run,
    "data": _data,
}


def _is_user_error(err: BaseException) -> bool:
    if isinstance(err, UsageError):
        return True
    registry = sys.modules.get("mmrs.data.registry")  # loaded whenever a DatasetError exists
    return registry is not None and isinstance(err, registry.DatasetError)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mmrs`` / ``python -m mmrs``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    command = " ".join(["python -m mmrs", shlex.join(argv)]).strip()
    try:
        return _COMMANDS[args.command](args, command)
    except Exception as err:
        if _is_user_error(err):
            return _print_error(str(err))
        raise


if __name__ == "__main__":
    raise SystemExit(main())
