"""Generate the assignments' student notebooks and grading bundles, and grade notebooks.

Each assignment is one Otter Assign source notebook, ``assignments/<name>/<name>.ipynb``, holding
the task, the reference solution and the public and hidden tests; ``wrong_answers.py`` beside it
lists plausible wrong answers, each of which must lose points on its question.

    python assignments/build.py                  # -> _build/assignments/<name>/{student,autograder}
    python assignments/build.py --check          # + reference: full marks, student: zero,
                                                 #   every wrong answer: loses points
    python assignments/build.py --only a2_evaluation --out /tmp/a

``generate`` runs ``otter assign`` (no PDFs; the tests are run here instead, see ``--check``).
``grade`` grades a notebook in this process: it executes the code cells (errors are ignored, as
Otter does) and runs the autograder's test files with Otter's own test runner, so the scores are
those of the grading bundle. ``grade_with_otter`` is the real thing (``otter run``: a fresh
kernel per notebook), several seconds per notebook.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import re
import runpy
import shutil
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parent / "_build" / "assignments"
OTTER_CELL = re.compile(r"otter\.Notebook\(|grader\.(check|check_all|export)\(")
"""Cells that talk to Otter (its init cell, checks, export): skipped when grading in-process."""
SOLUTION_TAG = "otter_assign_solution_cell"

Scores = dict[str, tuple[float, float]]
"""Question name -> (score, points possible)."""


def names() -> list[str]:
    """The assignments: folders of ``assignments/`` holding ``<folder>/<folder>.ipynb``."""
    return sorted(p.name for p in HERE.iterdir() if (p / f"{p.name}.ipynb").is_file())


def source(name: str) -> Path:
    return HERE / name / f"{name}.ipynb"


def wrong_answers(name: str) -> dict[str, dict[str, str]]:
    """``question -> {description: code}`` from ``assignments/<name>/wrong_answers.py``."""
    path = HERE / name / "wrong_answers.py"
    return runpy.run_path(str(path))["WRONG_ANSWERS"] if path.is_file() else {}


@dataclass
class Built:
    """Where one generated assignment lives."""

    name: str
    folder: Path
    student: Path = field(init=False)
    solution: Path = field(init=False)
    bundle: Path = field(init=False)

    def __post_init__(self) -> None:
        self.student = self.folder / "student" / f"{self.name}.ipynb"
        self.solution = self.folder / "autograder" / f"{self.name}.ipynb"
        self.bundle = self.folder / "autograder" / f"{self.name}-autograder.zip"


def generate(out: Path = DEFAULT_OUT, only: Iterable[str] | None = None) -> list[Built]:
    """``otter assign`` every source into ``out/<name>``; the grading zip gets a fixed name."""
    from otter.assign import main as otter_assign

    built = []
    for name in only or names():
        folder = Path(out).resolve() / name
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.redirect_stdout(io.StringIO()):
            otter_assign(str(source(name)), str(folder), no_pdfs=True, no_run_tests=True)
        (zipped,) = (folder / "autograder").glob(f"{name}-autograder_*.zip")
        zipped.rename(folder / "autograder" / f"{name}-autograder.zip")
        b = Built(name, folder)
        embed_public_tests(b.student)
        built.append(b)
    return built


PUBLIC_TESTS_CELL = """\
# The public tests behind grader.check, written to ./tests when that folder is missing (on Colab
# only this notebook is uploaded). The hidden tests stay with your instructor.
from pathlib import Path

if not Path("tests").is_dir():
    Path("tests").mkdir()
    for _name, _text in {tests}.items():
        (Path("tests") / _name).write_text(_text, encoding="utf-8")
"""


def embed_public_tests(student: Path) -> None:
    """Put the student folder's public test files into the student notebook itself, in a cell
    before Otter's init cell that writes them when ``./tests`` is missing, so that the notebook
    alone is enough (Colab). In a grading run ``./tests`` holds the full tests: nothing is written."""
    nb = nbformat.read(student, 4)
    tests = {p.name: p.read_text(encoding="utf-8") for p in sorted((student.parent / "tests").glob("*.py"))}
    body = "{\n" + "".join(f"        {k!r}: {v!r},\n" for k, v in tests.items()) + "    }"
    cell = nbformat.v4.new_code_cell(PUBLIC_TESTS_CELL.format(tests=body).rstrip("\n"))
    cell.metadata.update({"deletable": False, "editable": False, "tags": ["public_tests"]})
    cell.pop("id", None)
    at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "otter.Notebook(" in c.source)
    nb.cells.insert(at, cell)
    for i, c in enumerate(nb.cells):  # deterministic cell ids
        c["id"] = f"cell-{i:02d}"
    nbformat.write(nb, student, 4)


def test_files(bundle: Path) -> dict[str, str]:
    """Question name -> the source of its test file in the grading zip (hidden tests included)."""
    with zipfile.ZipFile(bundle) as z:
        return {
            Path(n).stem: z.read(n).decode()
            for n in sorted(z.namelist())
            if n.startswith("tests/") and n.endswith(".py")
        }


def question_points(bundle: Path) -> dict[str, float]:
    """Question name -> its points (the ``points`` line of its test file)."""
    return {
        q: float(re.search(r"^points = (\S+)$", text, re.M).group(1))
        for q, text in test_files(bundle).items()
    }


def _run_cells(nb: nbformat.NotebookNode, workdir: Path) -> dict:
    """Execute the code cells in one namespace (errors ignored, Otter cells skipped)."""
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    env: dict = {"__name__": "__main__", "get_ipython": lambda: None}
    with contextlib.chdir(workdir), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        for cell in nb.cells:
            if cell.cell_type != "code" or OTTER_CELL.search(cell.source):
                continue
            try:
                exec(compile(transform(cell.source), "<cell>", "exec"), env)  # noqa: S102
            except Exception:  # a student's error costs that question's points, nothing more
                pass
    return env


@contextlib.contextmanager
def _isolated():
    """Restore what a notebook may change for the whole process: RNG states, torch's threads."""
    import random

    import numpy as np
    import torch

    saved = (random.getstate(), np.random.get_state(), torch.random.get_rng_state(),  # noqa: NPY002
             torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])  # noqa: NPY002
        torch.random.set_rng_state(saved[2])
        torch.set_num_threads(saved[3])
        torch.use_deterministic_algorithms(saved[4])


def grade(notebook: Path | nbformat.NotebookNode, bundle: Path) -> Scores:
    """Grade ``notebook`` in this process with the tests of ``bundle`` (see the module docstring)."""
    from otter.test_files.exception_test import ExceptionTestFile

    nb = notebook if isinstance(notebook, nbformat.NotebookNode) else nbformat.read(notebook, 4)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), _isolated():
        warnings.simplefilter("ignore")  # a wrong answer's nan or overflow is graded, not shown
        env = _run_cells(nb, Path(tmp))
        scores: Scores = {}
        with contextlib.chdir(tmp), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            for question, text in test_files(bundle).items():
                path = Path(tmp) / f"{question}.py"
                path.write_text(text)
                tests = ExceptionTestFile.from_file(str(path))
                tests.run(env)
                scores[question] = (float(tests.score), float(tests.possible))
    return scores


def grade_with_otter(notebook: Path, bundle: Path) -> Scores:
    """Grade ``notebook`` with ``otter run`` (a fresh kernel, exactly as an instructor would)."""
    from otter.api import grade_submission

    results = grade_submission(str(notebook), str(bundle), quiet=True)
    return {q: (float(r.score), float(r.possible)) for q, r in results.results.items()}


def solution_cells(nb: nbformat.NotebookNode) -> dict[str, list[int]]:
    """Question name -> indices of its solution cells in the autograder (solution) notebook."""
    out: dict[str, list[int]] = {}
    pending: list[int] = []
    for i, cell in enumerate(nb.cells):
        if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
            pending.append(i)
        match = re.search(r'grader\.check\("([^"]+)"\)', cell.source) if cell.cell_type == "code" else None
        if match:
            out[match.group(1)] = pending
            pending = []
    return out


def with_answer(solution: Path, question: str, code: str) -> nbformat.NotebookNode:
    """The solution notebook with ``question``'s answer replaced by ``code``."""
    nb = copy.deepcopy(nbformat.read(solution, 4))
    cells = solution_cells(nb)[question]
    nb.cells[cells[0]].source = code.strip("\n")
    for i in cells[1:]:
        nb.cells[i].source = ""
    return nb


@dataclass
class Report:
    """One assignment's grading checks."""

    name: str
    reference: Scores
    student: Scores
    wrong: dict[tuple[str, str], Scores]
    problems: list[str]


def check(b: Built) -> Report:
    """Reference solution: full marks; untouched student notebook: zero; every listed wrong answer:
    fewer points on its own question than the reference."""
    problems = []
    reference = grade(b.solution, b.bundle)
    for q, (score, possible) in reference.items():
        if score != possible:
            problems.append(f"reference solution scores {score}/{possible} on {q}")
    student = grade(b.student, b.bundle)
    for q, (score, _) in student.items():
        if score != 0:
            problems.append(f"untouched student notebook scores {score} on {q}")
    wrong = {}
    listed = wrong_answers(b.name)
    for q in reference:
        if not listed.get(q):
            problems.append(f"{q} has no wrong answer in wrong_answers.py")
    for q, answers in listed.items():
        if q not in reference:
            problems.append(f"wrong_answers.py names an unknown question {q!r}")
            continue
        for description, code in answers.items():
            scores = grade(with_answer(b.solution, q, code), b.bundle)
            wrong[(q, description)] = scores
            if scores[q][0] >= reference[q][1]:
                problems.append(f"{q}: the wrong answer {description!r} keeps full marks")
    return Report(b.name, reference, student, wrong, problems)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--only", nargs="+", choices=names(), help="these assignments only")
    parser.add_argument("--check", action="store_true",
                        help="grade the reference, the untouched student notebook and every wrong answer")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    built = generate(args.out, args.only)
    for b in built:
        points = question_points(b.bundle)
        print(f"{b.name}: {b.student.relative_to(args.out.resolve())}, "
              f"{b.bundle.relative_to(args.out.resolve())}; "
              + ", ".join(f"{q} {p:g}" for q, p in points.items())
              + f" = {sum(points.values()):g} points")
    failed = False
    if args.check:
        for b in built:
            report = check(b)
            caught = sum(s[q][0] < report.reference[q][1] for (q, _), s in report.wrong.items())
            print(f"  {b.name}: reference {sum(s for s, _ in report.reference.values()):g}/"
                  f"{sum(p for _, p in report.reference.values()):g}, student "
                  f"{sum(s for s, _ in report.student.values()):g}, wrong answers caught "
                  f"{caught}/{len(report.wrong)}")
            for problem in report.problems:
                print(f"    PROBLEM: {problem}")
            failed |= bool(report.problems)
    print(f"{len(built)} assignments in {args.out} ({time.perf_counter() - start:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
