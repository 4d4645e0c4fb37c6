"""Every record the book shows is a named point of an experiment; the grids live here as data.

    python -m mmrs run --list                      # the experiments
    python -m mmrs run bm3 --list                  # its points, records, and whether each is stale
    python -m mmrs run bm3 --point baby-l1-d0.3-r0.1 --dry-run
    python -m mmrs run bm3 --point baby-l1-d0.3-r0.1   # re-make that record (full profile)
    python -m mmrs run bm3 --smoke --out-dir /tmp/x    # the experiment at the ci profile

An :class:`Experiment` (one per chapter, plus the benchmarks) holds :class:`Point` s: a point is a
command (an argv that writes one record with ``--out``), the record it writes and the source
files the record depends on. ``--list`` marks a record *stale* when a commit after the record's
git revision touched one of those files (``git log REV..HEAD -- FILES``), *unknown* when the
revision is not in this checkout's history.

Each point runs in its own process (``python -m ...``), so its timings and peak memory are its own.
The runners (``mmrs.experiments.bm3`` etc.) are imported only by those processes: importing this
module stays light (no torch).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

PY = ("python", "-m")
TRAIN = (*PY, "mmrs", "train", "--profile", "full", "--torch-threads", "1", "--no-progress")
CORE = ("src/mmrs/train.py", "src/mmrs/metrics.py", "src/mmrs/sampling.py", "src/mmrs/graph.py",
        "src/mmrs/models/base.py", "src/mmrs/data/interactions.py")
"""Sources every training record depends on."""

NOT_YET_RUN: frozenset[str] = frozenset()  # every declared point has its record (2026-12-02)
"""Records of declared points that have not been made yet (each costs CPU hours this project's
2-core sessions have not had); remove a path when its record lands (a test requires exactly the
other points to have their records)."""

SEEDS: tuple[int, ...] = (2024, 2025)
"""Model seeds run besides the published 2023 for the comparisons a chapter makes across seeds
(records under ``book/results/seeds/``, never mixed into validation selection)."""

OTHER_SPLIT_SEED = 2024
"""Another seed of MMRec's split rule for Amazon Baby (the book's split is seed 2023): the
selected ID-only BM3 and LightGCN are run on it at model seed 2023 (``--split-seed``)."""


@dataclass(frozen=True)
class Point:
    """One record of the book: the command that writes it and what it depends on."""

    name: str
    record: str
    """Path relative to the repository root (``book/results/...`` or ``benchmarks/results/...``)."""
    argv: tuple[str, ...]
    """The command, without ``--out`` (added by :meth:`command`)."""
    depends: tuple[str, ...] = ()
    """Source files or folders (relative to the repository root) the record depends on."""
    out_flag: bool = True
    """Whether the command takes ``--out RECORD`` (benchmark scripts that write a fixed path don't)."""

    @property
    def planned(self) -> bool:
        """Whether the point is part of the replication plan but its record is not made yet
        (:data:`NOT_YET_RUN`): ``mmrs run --list`` shows it ``missing`` and ``make replicate``
        makes it; chapters say it has not been run."""
        return self.record in NOT_YET_RUN

    def command(self, out: str | None = None) -> list[str]:
        """The argv that writes the record (to ``out`` instead of :attr:`record` when given)."""
        argv = list(self.argv)
        if self.out_flag:
            argv += ["--out", out or self.record]
        return argv


@dataclass(frozen=True)
class Experiment:
    """A chapter's experiment: its points, and a smoke run at the ci profile."""

    name: str
    chapter: str
    description: str
    points: tuple[Point, ...]
    smoke: tuple[tuple[str, ...], ...] = field(default_factory=tuple)
    """Commands (``{out}`` is replaced by a file in the output folder) that exercise the runners
    at the ci profile in about a minute; used by the tests."""

    def point(self, name: str) -> Point:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(
            f"experiment {self.name!r} has no point {name!r}; points: "
            + ", ".join(p.name for p in self.points)
        )


def _train_point(name: str, model: str, dataset: str, epochs: int, record: str,
                 *extra: str) -> Point:
    return Point(
        name, record,
        (*TRAIN, "--model", model, "--dataset", dataset, "--max-epochs", str(epochs), *extra),
        (*CORE, f"src/mmrs/models/{model}.py"),
    )


def _baselines() -> Experiment:
    points = []
    for dataset, bpr_epochs, lgn_epochs in (("amazon-baby", 400, 300), ("amazon-sports", 300, 200),
                                            ("amazon-clothing", 300, 200)):
        short = dataset.removeprefix("amazon-")
        points.append(_train_point(f"bpr-{short}", "bpr", dataset, bpr_epochs,
                                   f"book/results/bpr_{dataset}.json"))
        points.append(_train_point(f"lightgcn-{short}", "lightgcn", dataset, lgn_epochs,
                                   f"book/results/lightgcn_{dataset}.json"))
    for seed in SEEDS:  # other model seeds of the selected LightGCN point (Chapter 4's comparison)
        points.append(_train_point(f"lightgcn-baby-s{seed}", "lightgcn", "amazon-baby", 300,
                                   f"book/results/seeds/lightgcn_amazon-baby_s{seed}.json",
                                   "--seed", str(seed)))
    points.append(_train_point(  # the selected LightGCN on another split of Baby (issue 17)
        f"lightgcn-baby-split{OTHER_SPLIT_SEED}", "lightgcn", "amazon-baby", 300,
        f"book/results/seeds/lightgcn_amazon-baby_split{OTHER_SPLIT_SEED}.json",
        "--split-seed", str(OTHER_SPLIT_SEED)))
    for dataset, epochs in (("amazon-baby", 300), ("amazon-sports", 200)):  # ID-only BUIR (issue 13)
        points.append(_train_point(f"buir-{dataset.removeprefix('amazon-')}", "buir", dataset, epochs,
                                   f"book/results/buir_{dataset}.json"))
    for reg in ("0.1", "1.0", "0.01", "0.001", "1e-05"):  # MMRec's BPR grid on Sports (2.0: not run)
        points.append(_train_point(f"bpr-sports-reg{reg}", "bpr", "amazon-sports", 300,
                                   f"book/results/grid/bpr_amazon-sports_reg{reg}.json",
                                   "--reg-weight", reg))
    return Experiment(
        "baselines", "2-3", "BPR and LightGCN on Amazon Baby, Sports and Clothing; MMRec's BPR "
        "grid on Sports", tuple(points),
        smoke=((*PY, "mmrs", "train", "--profile", "ci", "--model", "lightgcn", "--dataset",
                "amazon-baby", "--max-epochs", "1", "--torch-threads", "1", "--no-progress",
                "--out", "{out}"),),
    )


BM3_SIM_DEPENDS = (*CORE, "src/mmrs/models/bm3.py", "src/mmrs/models/lightgcn.py",
                   "src/mmrs/models/bpr.py", "src/mmrs/data/fashion_sim.py", "src/mmrs/features",
                   "src/mmrs/experiments/bm3.py")


def _bm3() -> Experiment:
    points = [_train_point("baby", "bm3", "amazon-baby", 200, "book/results/bm3_amazon-baby.json",
                           "--n-layers", "1", "--dropout", "0.5", "--reg-weight", "0.1")]
    for layers in ("1", "2"):  # the paper's grid: layers x dropout x lambda
        for dropout in ("0.3", "0.5"):
            for reg in ("0.1", "0.01"):
                if (layers, dropout, reg) == ("1", "0.5", "0.1"):
                    continue  # the record above
                points.append(_train_point(
                    f"baby-l{layers}-d{dropout}-r{reg}", "bm3", "amazon-baby", 200,
                    f"book/results/grid/bm3_amazon-baby_l{layers}_d{dropout}_r{reg}.json",
                    "--n-layers", layers, "--dropout", dropout, "--reg-weight", reg))
    for seed in SEEDS:  # other model seeds of the validation-selected point (1 layer, 0.3, 0.1)
        points.append(_train_point(
            f"baby-l1-d0.3-r0.1-s{seed}", "bm3", "amazon-baby", 200,
            f"book/results/seeds/bm3_amazon-baby_l1_d0.3_r0.1_s{seed}.json",
            "--n-layers", "1", "--dropout", "0.3", "--reg-weight", "0.1", "--seed", str(seed)))
    points.append(_train_point(  # the same point on another split of Baby (issue 17)
        f"baby-l1-d0.3-r0.1-split{OTHER_SPLIT_SEED}", "bm3", "amazon-baby", 200,
        f"book/results/seeds/bm3_amazon-baby_l1_d0.3_r0.1_split{OTHER_SPLIT_SEED}.json",
        "--n-layers", "1", "--dropout", "0.3", "--reg-weight", "0.1", "--split-seed", str(OTHER_SPLIT_SEED)))
    run = (*PY, "mmrs.experiments.bm3", "--torch-threads", "1")
    full = (*run, "--profile", "full", "--size", "full", "--max-epochs", "150", "--patience", "20")
    points += [
        Point("sim-ci", "book/results/bm3_fashion-sim.json",
              (*run, "--size", "ci", "--max-epochs", "30"), BM3_SIM_DEPENDS),
        Point("sim-medium", "book/results/bm3_fashion-sim-medium.json",
              (*run, "--size", "medium", "--max-epochs", "40"), BM3_SIM_DEPENDS),
        Point("sim-full", "book/results/bm3_fashion-sim-full.json",
              (*full, "--variants", "BM3 (v+t)", "w/o v&t", "LightGCN"), BM3_SIM_DEPENDS),
        Point("sim-full-modalities", "book/results/bm3_fashion-sim-full-modalities.json",
              (*full, "--variants", "w/o v", "w/o t"), BM3_SIM_DEPENDS),
        Point("sim-full-losses", "book/results/bm3_fashion-sim-full-losses.json",
              (*full, "--variants", "w/o inter", "w/o intra", "BPR"), BM3_SIM_DEPENDS),
    ]
    for seed in SEEDS:  # other model seeds over the same simulated users (Chapters 4 and 5)
        points.append(Point(
            f"sim-full-s{seed}", f"book/results/seeds/bm3_fashion-sim-full_s{seed}.json",
            (*full, "--model-seed", str(seed), "--variants", "BM3 (v+t)", "w/o v&t"),
            BM3_SIM_DEPENDS))
        points.append(Point(  # the modality and loss ablations Chapter 4 reads from one seed
            f"sim-full-ablations-s{seed}", f"book/results/seeds/bm3_fashion-sim-full-ablations_s{seed}.json",
            (*full, "--model-seed", str(seed), "--variants", "w/o v", "w/o t", "w/o inter", "w/o intra"),
            BM3_SIM_DEPENDS))
    return Experiment(
        "bm3", "4", "ID-only BM3's grid on Amazon Baby; BM3, its ablations and ID baselines on "
        "the simulated fashion users", tuple(points),
        smoke=((*run, "--profile", "ci", "--max-epochs", "2", "--variants", "BM3 (v+t)",
                "LightGCN", "--out", "{out}"),),
    )


def _feature_models() -> Experiment:
    run = (*PY, "mmrs.experiments.feature_models", "--size", "full", "--max-epochs", "150",
           "--patience", "20", "--torch-threads", "1")
    depends = (*CORE, "src/mmrs/data/fashion_sim.py", "src/mmrs/features",
               "src/mmrs/experiments/feature_models.py")
    points = [
        Point(f"vbpr-r{r}", f"book/results/grid/vbpr_fashion-sim-full_r{r}.json",
              (*run, "--model", "vbpr", "--set", f"reg_weight={r}"),
              (*depends, "src/mmrs/models/vbpr.py"))
        for r in ("0.0001", "0.01", "0.1", "1.0", "2.0", "5.0", "10.0")
    ]
    points += [
        Point(f"freedom-d{d}-r{r}", f"book/results/grid/freedom_fashion-sim-full_d{d}_r{r}.json",
              (*run, "--model", "freedom", "--set", f"dropout={d}", f"reg_weight={r}"),
              (*depends, "src/mmrs/models/freedom.py", "src/mmrs/models/lightgcn.py"))
        for d, r in (("0.8", "0.001"), ("0.9", "0.001"), ("0.8", "0.0001"), ("0.8", "0.0"))
    ]
    points += [  # other model seeds of the validation-selected FREEDOM point (Chapter 5)
        Point(f"freedom-d0.8-r0.001-s{seed}",
              f"book/results/seeds/freedom_fashion-sim-full_d0.8_r0.001_s{seed}.json",
              (*run, "--model", "freedom", "--set", "dropout=0.8", "reg_weight=0.001",
               "--model-seed", str(seed)),
              (*depends, "src/mmrs/models/freedom.py", "src/mmrs/models/lightgcn.py"))
        for seed in SEEDS
    ]
    points += [  # MMRec's LATTICE grid (reg_weight x lr): three reg_weight points at lr 1e-3
        Point(f"lattice-r{r}", f"book/results/grid/lattice_fashion-sim-full_r{r}.json",
              (*run, "--model", "lattice", "--set", f"reg_weight={r}"),
              (*depends, "src/mmrs/models/lattice.py"))
        for r in ("0.0", "0.0001", "0.001")
    ]
    # MMRec's grids are reg_weight x learning_rate; the runner keeps lr at 1e-3, so 3 reg_weight
    # points each. GRCN, DualGNN: the grid's ends and middle (1e-5, 1e-3, 0.1). MMGCN: MMRec never
    # trains its ID/preference tables, so reg_weight changes nothing there: one faithful point and
    # two with trainable tables (the paper's intent) at 1e-4 and 1e-2.
    mm_gnn = (*depends, "src/mmrs/models/mm_gnn_reference.py")
    points += [
        Point(f"mmgcn{t.replace('_', '-')}-r{r}", f"book/results/grid/mmgcn_fashion-sim-full{t}_r{r}.json",
              (*run, "--model", "mmgcn", "--set", f"reg_weight={r}",
               *(["trainable_embeddings=True"] if t else [])),
              (*mm_gnn, "src/mmrs/models/mmgcn.py"))
        for t, r in (("", "0.0001"), ("_trained", "0.0001"), ("_trained", "0.01"))
    ]
    points += [
        Point(f"{m}-r{r}", f"book/results/grid/{m}_fashion-sim-full_r{r}.json",
              (*run, "--model", m, "--set", f"reg_weight={r}"),
              (*mm_gnn, f"src/mmrs/models/{m}.py"))
        for m in ("grcn", "dualgnn") for r in ("0.00001", "0.001", "0.1")
    ]
    points += [  # untrained reference points: content item-kNN (floor) and the oracle (ceiling)
        Point(m, f"book/results/{m}_fashion-sim-full.json", (*run, "--model", m),
              (*depends, f"src/mmrs/models/{m}.py"))
        for m in ("itemknn", "oracle")
    ]
    return Experiment(
        "feature_models", "5", "VBPR and FREEDOM grids on the full simulated fashion users; "
        "content item-kNN and the attribute oracle",
        tuple(points),
        smoke=((*PY, "mmrs.experiments.feature_models", "--profile", "ci", "--model", "freedom",
                "--max-epochs", "2", "--torch-threads", "1", "--out", "{out}"),),
    )


def _hierarchical() -> Experiment:
    depends = ("src/mmrs/hierarchical", "src/mmrs/retrieval", "src/mmrs/features",
               "src/mmrs/experiments/hierarchical.py", "src/mmrs/config.py")
    points = tuple(
        Point(p, f"book/results/hierarchical_{p}.json",
              (*PY, "mmrs.experiments.hierarchical", "--profile", p), depends)
        for p in ("ci", "full")
    ) + (Point("catalogue", "book/results/hierarchical_catalogue.json",
               (*PY, "mmrs.experiments.hierarchical", "--profile", "full", "--size", "catalogue"),
               depends),) + tuple(  # other seeds (product sample, split, initialisation): the cascade vs flat
        Point(f"full-s{seed}", f"book/results/seeds/hierarchical_full_s{seed}.json",
              (*PY, "mmrs.experiments.hierarchical", "--profile", "full", "--seed", str(seed)),
              depends)
        for seed in SEEDS
    )
    return Experiment(
        "hierarchical", "6", "Flat vs category-routed CLIP-style retrieval on the fashion catalogue",
        points, smoke=((*PY, "mmrs.experiments.hierarchical", "--profile", "ci", "--out", "{out}"),),
    )


def _matching() -> Experiment:
    depends = ("src/mmrs/matching", "src/mmrs/features", "src/mmrs/data/matching.py",
               "src/mmrs/experiments/matching.py")
    points = tuple(
        Point(d, f"book/results/matching_{d}.json",
              (*PY, "mmrs.experiments.matching", "--dataset", d, "--profile", "full", "--quiet",
               "--torch-threads", "1"),
              depends)
        for d in ("abt-buy", "amazon-google", "fashion")
    ) + tuple(  # other split seeds (groups, heads, tuning halves): the ladder's steps across seeds
        Point(f"{d}-s{seed}", f"book/results/seeds/matching_{d}_s{seed}.json",
              (*PY, "mmrs.experiments.matching", "--dataset", d, "--profile", "full", "--quiet",
               "--torch-threads", "1", "--seed", str(seed)),
              depends)
        for d in ("abt-buy", "amazon-google", "fashion") for seed in SEEDS
    )
    return Experiment(
        "matching", "7", "The matching ladder (frozen and ArcFace-trained embeddings, pooled and "
        "clean–clean settings) on Abt-Buy, Amazon-Google and the fashion listings", points,
        smoke=((*PY, "mmrs.experiments.matching", "--dataset", "abt-buy", "--profile", "ci",
                "--quiet", "--out", "{out}"),),
    )


def _markets() -> Experiment:
    depends = ("src/mmrs/data/markets.py", "src/mmrs/data/fashion_sim.py",
               "src/mmrs/features/tokens.py", "src/mmrs/features/regions.py",
               "src/mmrs/models/fusion_transformer.py", "src/mmrs/attribution",
               "src/mmrs/experiments/markets.py", "src/mmrs/train.py", "src/mmrs/metrics.py")
    run = (*PY, "mmrs.experiments.markets", "--torch-threads", "1")
    return Experiment(
        "markets", "8", "Fusion transformer vs mean fusion and attention vs attributions on two "
        "simulated markets with planted factor weights",
        (Point("full", "book/results/markets_full.json", (*run, "--profile", "full"), depends),),
        smoke=((*run, "--profile", "ci", "--out", "{out}"),),
    )


def _benchmarks() -> Experiment:
    def bench(name: str, script: str, *args: str, depends: tuple[str, ...] = ()) -> Point:
        return Point(name, f"benchmarks/results/{name}.json",
                     ("python", f"benchmarks/{script}", *args),
                     (f"benchmarks/{script}", *depends))

    points = (
        bench("lightgcn_vs_pyg", "bench_lightgcn.py", "--torch-threads", "1",
              depends=("src/mmrs/models/lightgcn.py", "src/mmrs/graph.py")),
        bench("bm3_vs_reference_amazon-baby", "bench_bm3.py", "--dataset", "amazon-baby",
              "--epochs", "1", "--torch-threads", "1", depends=("src/mmrs/models/bm3.py",)),
        bench("bm3_vs_reference_medium", "bench_bm3.py", "--size", "medium", "--epochs", "1",
              "--torch-threads", "1", depends=("src/mmrs/models/bm3.py",)),
        bench("bm3_vs_reference_ci", "bench_bm3.py", "--size", "ci", "--epochs", "3",
              "--batch-size", "256", "--torch-threads", "1", depends=("src/mmrs/models/bm3.py",)),
        bench("table4_baby", "bench_table4.py", "--epochs", "3", "--torch-threads", "1",
              depends=("src/mmrs/models", "src/mmrs/train.py")),
        bench("table4_fashion-sim-full", "bench_table4.py", "--dataset", "fashion-sim-full",
              "--epochs", "2", "--torch-threads", "1",
              depends=("src/mmrs/models", "src/mmrs/train.py")),
        bench("complexity", "bench_complexity.py", "--torch-threads", "1",
              depends=("src/mmrs/models/lattice.py", "src/mmrs/graph.py")),
        bench("lattice_grcn_vs_reference", "bench_lattice_grcn.py", "--torch-threads", "1",
              depends=("src/mmrs/models/lattice.py", "src/mmrs/models/lattice_reference.py",
                       "src/mmrs/models/grcn.py", "src/mmrs/models/mm_gnn_reference.py")),
        bench("matching_scaling", "bench_matching.py", "--sizes", "10000", "30000", "100000",
              "1000000", "--threads", "1", depends=("src/mmrs/matching",)),
        bench("matching_scaling_100k_2threads", "bench_matching.py", "--sizes", "100000",
              "--kinds", "ivf", "--threads", "2", depends=("src/mmrs/matching",)),
        bench("retrieval", "bench_retrieval.py",
              depends=("src/mmrs/features", "src/mmrs/hierarchical")),
        bench("notebook_memory", "bench_notebook_memory.py", depends=("book", "src/mmrs")),
        bench("images", "bench_images.py", depends=("src/mmrs/features/image.py",)),
        # both need a checkout of MMRec in $MMREC_DIR (its code is imported, never copied)
        bench("epoch_vs_mmrec_amazon-baby", "bench_epoch.py", "--part", "train", "--repeats", "3",
              "--torch-threads", "1", depends=("src/mmrs/models", "src/mmrs/train.py")),
        bench("eval_amazon-baby", "bench_epoch.py", "--part", "eval", "--repeats", "3",
              "--torch-threads", "1", depends=("src/mmrs/models", "src/mmrs/metrics.py")),
    )
    return Experiment("benchmarks", "3-7", "Speed and memory comparisons shown in the chapters",
                      points)


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e for e in (_baselines(), _bm3(), _feature_models(), _hierarchical(), _matching(),
                        _markets(), _benchmarks())
}
"""Every experiment by name."""


def all_points() -> list[tuple[Experiment, Point]]:
    """Every (experiment, point) pair, in order."""
    return [(e, p) for e in EXPERIMENTS.values() for p in e.points]


# --------------------------------------------------------------------------- staleness


def repo_root() -> Path:
    """The checkout this package lives in (``src/mmrs/experiments`` -> root)."""
    return Path(__file__).resolve().parents[3]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=repo_root(), capture_output=True, text=True,
                             timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def status(point: Point, root: Path | None = None) -> str:
    """``missing``, ``current``, ``stale (N commits)`` or ``unknown (...)`` for ``point``'s record."""
    from .. import records

    root = root or repo_root()
    path = root / point.record
    if not path.is_file():
        return "missing"
    try:
        record = records.load(path)
    except records.RecordError as error:
        return f"invalid ({error})"
    revision = record["git"]["revision"]
    if not revision:
        return "unknown (no git revision recorded)"
    if _git("cat-file", "-e", f"{revision}^{{commit}}") is None:
        return "unknown (revision not in this history)"
    changed = _git("log", "--format=%h", f"{revision}..HEAD", "--", *point.depends)
    if changed is None:
        return "unknown (git failed)"
    n = len(changed.split()) if changed else 0
    return "current" if n == 0 else f"stale ({n} commit{'s' if n > 1 else ''} since)"


# --------------------------------------------------------------------------- the command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``python -m mmrs run`` (kept here so the CLI stays light)."""
    parser.add_argument("experiment", nargs="?", help=f"one of: {', '.join(EXPERIMENTS)}")
    parser.add_argument("--list", action="store_true", help="list points, records and staleness")
    parser.add_argument("--point", nargs="+", default=[], metavar="NAME", help="points to run")
    parser.add_argument("--all", action="store_true", help="run every point (hours)")
    parser.add_argument("--smoke", action="store_true",
                        help="run the experiment at the ci profile into --out-dir")
    parser.add_argument("--out-dir", type=Path, default=None,
                        help="where --smoke writes its records (required with --smoke)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    parser.add_argument("--wall-time", action="store_true",
                        help="the whole replication's CPU hours and wall time on 2 cores, "
                             "from the committed records")


def _python(argv: list[str]) -> list[str]:
    """``python ...`` -> this interpreter."""
    return [sys.executable, *argv[1:]] if argv and argv[0] == "python" else argv


def run_command(args: argparse.Namespace) -> int:
    """``python -m mmrs run`` (module docstring). Returns the exit code."""
    if args.wall_time:
        from .workflow import replication_wall_time

        cost = replication_wall_time(cores=2)
        print(f"{cost['timed']} of {cost['points']} points state their time: "
              f"{cost['cpu_hours']:.1f} CPU hours, {cost['wall_hours']:.1f} h on 2 cores; "
              f"untimed: {', '.join(cost['untimed']) or 'none'}")
        return 0
    if args.experiment is None:
        for e in EXPERIMENTS.values():
            print(f"{e.name:<16} chapter {e.chapter:<4} {len(e.points):>3} points  {e.description}")
        return 0
    if args.experiment not in EXPERIMENTS:
        print(f"mmrs run: error: unknown experiment {args.experiment!r}; choose one of "
              f"{', '.join(EXPERIMENTS)}", file=sys.stderr)
        return 2
    experiment = EXPERIMENTS[args.experiment]
    try:
        chosen = [experiment.point(n) for n in args.point]
    except KeyError as error:
        print(f"mmrs run: error: {error.args[0]}", file=sys.stderr)
        return 2
    if args.list or not (chosen or args.all or args.smoke):
        for p in experiment.points:
            print(f"{p.name:<22} {status(p):<24} {p.record}\n{'':<22} {shlex.join(p.command())}")
        return 0
    if args.smoke:
        if args.out_dir is None:
            print("mmrs run: error: --smoke needs --out-dir FOLDER", file=sys.stderr)
            return 2
        commands = [[a.replace("{out}", str(args.out_dir / f"{experiment.name}_{i}.json"))
                     for a in argv] for i, argv in enumerate(experiment.smoke)]
    else:
        commands = [p.command() for p in (experiment.points if args.all else chosen)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for argv in commands:
        print(f"$ {shlex.join(argv)}", flush=True)
        if args.dry_run:
            continue
        done = subprocess.run(_python(argv), cwd=None if args.smoke else repo_root(), env=env)
        if done.returncode != 0:
            print(f"mmrs run: error: exit code {done.returncode} from: {shlex.join(argv)}",
                  file=sys.stderr)
            return done.returncode
    return 0
