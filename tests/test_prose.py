"""Numbers in the book's prose come from code (mmrs.chapters.prose).

A number with a decimal point or a unit (%, %p, ×, ms) in a chapter's markdown must be pasted
from the notebook's own computation with a myst-nb glue role, or be an input listed with its
reason in ``mmrs.chapters.prose.QUOTED``; every glue role must name a value the same notebook
glues; and typed inputs that the library also holds must agree with it.
"""

from pathlib import Path

import pytest

from mmrs.chapters import prose

BOOK = Path(__file__).resolve().parents[1] / "book"
PAGES = sorted(BOOK.glob("[0-9]*.ipynb")) + [BOOK / "intro.md"]


def test_the_book_has_pages():
    assert len(PAGES) >= 8, PAGES


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_prose_numbers_are_glued_or_quoted_inputs(page):
    audit = prose.audit(page)
    typed = "\n".join(f"  {f.text!r} in: {f.line}" for f in audit.unexplained)
    assert not audit.unexplained, (
        f"{page.name}: numbers typed in the prose that are neither glued from the notebook's own "
        f"computation ({{glue:text}}`name:fmt`) nor listed as inputs in mmrs.chapters.prose.QUOTED:\n"
        f"{typed}"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_every_glue_role_is_glued_in_the_same_notebook(page):
    audit = prose.audit(page)
    assert not audit.undefined_glue, f"{page.name}: no code cell glues {sorted(audit.undefined_glue)}"


def test_quoted_inputs_agree_with_their_sources():
    assert prose.source_mismatches() == []


def test_quoted_inputs_are_used():
    """An allow-list entry that no page needs any more is stale: remove it."""
    for page, entries in prose.QUOTED.items():
        path = BOOK / (f"{page}.md" if page == "intro" else f"{page}.ipynb")
        found = {f.number for f in prose.audit(path).allowed}
        for entry in entries:
            unused = set(entry.numbers) - found
            assert not unused, f"{page}: QUOTED lists {sorted(unused)} ({entry.reason!r}) but the page no longer types them"


# -- the scanner itself ----------------------------------------------------------------------


def test_scanner_flags_results_and_skips_labels_code_and_glue():
    text = (
        "## 4.1 Heading\n"
        "BM3 reaches 0.0764 (+16 %) and runs 8× faster (0.68 vs 5.3 ms) with a +7.3 %p gain.\n"
        "See Figure 7.1, section 7.7, Exercise 4.3 and figures 7.1–7.3; `--lr 0.001` is code.\n"
        "Glued: {glue:text}`r20:.4f` and {glue:text}`share:.1f` %; cited {cite:p}`a2020`.\n"
        "Counts 16,397 users, 19,445 × 7,050, a 5-core and all-MiniLM-L6-v2 are not results.\n"
    )
    assert [f.text for f in prose.prose_numbers(text)] == ["0.0764", "16 %", "8×", "0.68", "5.3 ms", "7.3 %p"]


def test_scanner_reads_directive_bodies_but_not_code_fences():
    text = "```{admonition} Note\n:class: tip\nabout 0.25 of it\n```\n\n```python\nx = 0.5\n```\n"
    assert [f.number for f in prose.prose_numbers(text)] == ["0.25"]


def test_glue_names_used_and_defined():
    md = "a {glue:text}`baby_train:,d` b {glue:text}`word` c {glue}`fig_1` d {glue:text}`other.ipynb::x:.2f`"
    assert prose.glue_names_used(md) == {"baby_train", "word", "fig_1", "x"}
    code = '%matplotlib inline\nfrom mmrs.chapters.prose import glue\nglue("a", 1)\nprose.glue("b", 2.0, display=False)\nglue(name, 3)\n'
    assert prose.glue_names_defined(code) == {"a", "b"}


def test_in_source_compares_at_the_written_precision():
    assert prose.in_source("0.70", [0.7]) and prose.in_source("99.9861", [99.98612])
    assert not prose.in_source("0.0755", [0.0754]) and not prose.in_source("1.25", [1_250_000])


def test_glue_stores_plain_python_numbers(monkeypatch):
    np = pytest.importorskip("numpy")
    seen = {}
    import myst_nb

    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: seen.update({name: value}))
    prose.glue("x", np.float64(0.5))
    prose.glue("n", np.int64(3))
    assert seen == {"x": 0.5, "n": 3} and type(seen["x"]) is float and type(seen["n"]) is int
    with pytest.raises(ValueError):
        prose.glue("bad", float("nan"))
