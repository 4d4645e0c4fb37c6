"""The course assignments (``assignments/``): generated with Otter Assign, then graded.

For every assignment: the generated student notebook holds no solution and no hidden test; the
reference solution scores full marks; the untouched student notebook scores zero; and every
wrong answer listed in its ``wrong_answers.py`` loses points on its own question. Grading runs
in this process with the grading bundle's own test files and Otter's test runner
(``assignments/build.py``: ``grade``); one notebook, the mini project's reference, is also
graded by ``otter run`` in a fresh kernel, exactly as an instructor grades a submission.

About half a minute on 2 cores (tiny seeded arrays; the project trains on synthetic data for 2
epochs). Deselect with ``-k "not assignments"``; skipped when otter-grader is not installed
(``pip install "mmrs[grading]"``).
"""

from __future__ import annotations

import importlib.util
import re
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("otter", reason="otter-grader is not installed (pip install 'mmrs[grading]')")

ROOT = Path(__file__).resolve().parents[1]


def _load_build():
    spec = importlib.util.spec_from_file_location("mmrs_assignments_build", ROOT / "assignments" / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


build = _load_build()
NAMES = build.names()
WRONG = [
    pytest.param(name, question, description, id=f"{name}-{question}-{i}")
    for name in NAMES
    for question, answers in build.wrong_answers(name).items()
    for i, description in enumerate(answers)
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Every assignment generated once (``otter assign``) into a temporary folder."""
    out = tmp_path_factory.mktemp("assignments")
    return {b.name: b for b in build.generate(out)}


def test_one_assignment_per_chapter_and_a_project():
    chapters = sorted(int(m.group(1)) for n in NAMES if (m := re.match(r"a(\d)_", n)))
    assert chapters == list(range(1, 8))
    assert any(n.startswith("project_") for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_generated_files_and_points(built, name):
    b = built[name]
    assert b.student.is_file() and b.solution.is_file() and b.bundle.is_file()
    points = build.question_points(b.bundle)
    assert len(points) >= 2 and all(p > 0 for p in points.values())
    with zipfile.ZipFile(b.bundle) as z:
        for question in points:
            text = z.read(f"tests/{question}.py").decode()
            assert "hidden=True" in text and "hidden=False" in text, f"{question}: public and hidden tests"


def _solution_lines(source: Path) -> set[str]:
    """Lines of the source's solutions (inside ``# BEGIN/END SOLUTION``, or marked ``# SOLUTION``)."""
    lines, inside = set(), False
    for cell in nbformat.read(source, 4).cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.split("\n"):
            stripped = line.strip()
            if stripped == "# BEGIN SOLUTION":
                inside = True
            elif stripped == "# END SOLUTION":
                inside = False
            elif (inside or stripped.endswith("# SOLUTION")) and len(stripped) > 12:
                lines.add(stripped.removesuffix("# SOLUTION").strip())
    return lines


@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_has_no_solution_and_no_hidden_test(built, name):
    b = built[name]
    student = nbformat.read(b.student, 4)
    code = "\n".join(c.source for c in student.cells if c.cell_type == "code")
    leaked = [line for line in _solution_lines(build.source(name)) if line in code]
    assert not leaked, f"solution lines in the student notebook: {leaked[:3]}"
    public = {p.name: p.read_text() for p in (b.student.parent / "tests").glob("*.py")}
    assert set(public) == {f"{q}.py" for q in build.question_points(b.bundle)}
    assert not any("hidden=True" in text for text in public.values())
    answers = [c for c in student.cells if "otter_answer_cell" in c.metadata.get("tags", [])]
    assert answers and all("..." in c.source for c in answers)


@pytest.mark.parametrize("name", NAMES[:1])
def test_student_notebook_alone_writes_its_public_tests(built, name, tmp_path, monkeypatch):
    """On Colab only the notebook is uploaded: its first cells recreate ./tests (public tests)."""
    b = built[name]
    (cell,) = [c for c in nbformat.read(b.student, 4).cells if "public_tests" in c.metadata.get("tags", [])]
    monkeypatch.chdir(tmp_path)
    exec(cell.source, {})  # noqa: S102
    written = {p.name: p.read_text() for p in (tmp_path / "tests").glob("*.py")}
    assert written == {p.name: p.read_text() for p in (b.student.parent / "tests").glob("*.py")}


@pytest.mark.parametrize("name", NAMES)
def test_reference_solution_scores_full_marks(built, name):
    b = built[name]
    scores = build.grade(b.solution, b.bundle)
    assert scores == {q: (p, p) for q, p in build.question_points(b.bundle).items()}


@pytest.mark.parametrize("name", NAMES)
def test_untouched_student_notebook_scores_zero(built, name):
    b = built[name]
    scores = build.grade(b.student, b.bundle)
    assert scores == {q: (0.0, p) for q, p in build.question_points(b.bundle).items()}


@pytest.mark.parametrize("name", NAMES)
def test_every_question_lists_a_wrong_answer(built, name):
    listed = build.wrong_answers(name)
    assert set(listed) == set(build.question_points(built[name].bundle))
    assert all(listed.values())


@pytest.mark.parametrize(("name", "question", "description"), WRONG)
def test_wrong_answer_loses_points(built, name, question, description):
    b = built[name]
    code = build.wrong_answers(name)[question][description]
    score, possible = build.grade(build.with_answer(b.solution, question, code), b.bundle)[question]
    assert score < possible, f"{name} {question}: {description!r} keeps {score}/{possible}"


@pytest.mark.filterwarnings("ignore:The inplace keyword")  # pandas 3.1 on otter's results table
def test_otter_run_grades_the_project_reference(built):
    """The real grader (``otter run``: a fresh kernel runs the notebook, then the hidden tests,
    including the rerun of the submitted record) agrees with the in-process grading."""
    b = built["project_lightgcn_decay"]
    scores = build.grade_with_otter(b.solution, b.bundle)
    assert scores == {q: (p, p) for q, p in build.question_points(b.bundle).items()}


@pytest.mark.parametrize("name", NAMES)
def test_instructor_page_lists_points_and_time(built, name):
    """book/instructors.md's table agrees with the bundle's points and the source's time."""
    rows = [r for r in (ROOT / "book" / "instructors.md").read_text().splitlines() if r.startswith(f"| `{name}` |")]
    assert len(rows) == 1, f"book/instructors.md has no row for {name}"
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    points = build.question_points(built[name].bundle)
    for question, p in points.items():
        assert f"`{question}` ({p:g})" in cells[2], question
    assert cells[3] == f"{sum(points.values()):g}"
    text = "\n".join(c.source for c in nbformat.read(build.source(name), 4).cells)
    minutes = re.search(r"About\s+\*\*(\d+) minutes\*\*", text)
    assert minutes and cells[4] == f"{minutes.group(1)} min"

