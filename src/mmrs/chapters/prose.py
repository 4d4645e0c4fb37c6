"""Numbers in the chapters' prose come from code: the glue helper and the checks behind
``tests/test_prose.py``.

A chapter quotes a computed number in its text through myst-nb's *glue*: a code cell stores the
value (:func:`glue`) and the markdown pastes it with a format spec,
``{glue:text}`name:.4f```, so the sentence and the table above it cannot drift apart. What a
chapter may still *type* are **inputs**: numbers quoted from a paper or a write-up (MMRec's
published Recall@20, the Shopee leaderboard ladder), hyper-parameters and design constants,
and the steps of a worked example calculated by hand. Each is listed in :data:`QUOTED` with the
reason it is typed, and, where the number lives in the library too (a registry, a reference
table), with that ``source``, so the test also checks the typed number against it.

:func:`prose_numbers` finds the numbers a reader would take for results: those with a decimal
point or a unit (``%``, ``%p``, ``×``, ``ms``), outside glue roles, inline code, citations and
links, and not a label (section, figure, exercise or solution numbers such as ``Figure 7.1``).
"""

from __future__ import annotations

import ast
import importlib
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from numbers import Number
from pathlib import Path
from typing import Any

GLUE_PREFIX = "application/papermill.record/"
"""The mime prefix myst-nb stores glued values under (``myst_nb.ext.glue.GLUE_PREFIX``)."""


def glue(name: str, value: Any, display: bool = False) -> None:
    """Glue ``value`` under ``name`` for the page's ``{glue:text}`name:fmt``` roles.

    NumPy and pandas scalars become plain ``int``/``float`` first: myst-nb formats the stored
    ``text/plain`` with :func:`ast.literal_eval`, which cannot read ``np.float64(0.5)``. A
    non-finite number raises ``ValueError`` (a sentence should not quote a NaN). Uses
    ``myst_nb.glue`` when installed and an equivalent display call otherwise (e.g. on Colab,
    where the markdown shows the role itself).
    """
    value = _plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"glue {name!r}: {value} is not a finite number")
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # the book's build always has it; a reader's kernel may not
        from IPython.core.formatters import format_display_data
        from IPython.display import display as ipy_display

        bundle, metadata = format_display_data(value)
        metadata["scrapbook"] = {"name": name, "mime_prefix": "" if display else GLUE_PREFIX}
        prefix = "" if display else GLUE_PREFIX
        ipy_display({prefix + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)
        return
    myst_glue(name, value, display=display)


def _plain(value: Any) -> Any:
    """A Python scalar for a NumPy/pandas scalar (``.item()``); anything else unchanged."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)) and getattr(value, "ndim", 0) == 0:
        return value.item()
    return value


# -- inputs a chapter may type ---------------------------------------------------------------


@dataclass(frozen=True)
class Input:
    """Numbers a page types on purpose, the reason, and optionally where the library keeps them.

    ``numbers`` are written as on the page without the unit (``"0.0754"``, ``"99.9861"``);
    ``source`` is ``"module:attribute"`` whose numeric leaves must contain every number (compared
    at the number's written precision), so a typed input cannot drift from its registry either.
    """

    numbers: tuple[str, ...]
    reason: str
    source: str | None = None


BY_HAND = "a step of a worked example calculated by hand; the code cell beside it computes the same"

QUOTED: dict[str, tuple[Input, ...]] = {
    "intro": (
        Input(("99.9861",), "the sparsity the Inha AI Challenge entry's write-up reports",
              "mmrs.data.published:PUBLISHED_DATASETS"),
    ),
    "01_sparsity": (
        Input(("99.9861",), "the Inha AI Challenge entry's reported sparsity",
              "mmrs.data.published:PUBLISHED_DATASETS"),
        Input(("1.25",), "the entry's rounded 1.25M interactions (1,250,000 in "
              "mmrs.data.published.PUBLISHED_DATASETS)"),
        Input(("0.2",), "MMRec's split rule: 20 % of a user's interactions go to validation + test "
              "(a constant of the rule, mmrs.data.interactions)"),
        Input(("20",), "the 20 % most popular items: the definition of the top-20 % share"),
    ),
    "02_evaluation": (
        Input(("0.6", "1.8869", "2.1309", "0.8855", "0.7556", "0.2", "0.5"), BY_HAND),
        Input(("25",), "the BM3 paper's claim that LightGCN's sampling takes more than 25 % of an epoch"),
    ),
    "03_lightgcn": (
        Input(("0.7071",), BY_HAND),
        Input(("0.5",), "the worked example's 1/sqrt(2·2) (by hand), and exercise 3.3's threshold"),
        Input(("0.1", "1.0", "2.0"), "points of MMRec's BPR reg_weight grid (configs/model/BPR.yaml): "
              "hyper-parameters, not results"),
    ),
    "04_bm3": (
        Input(("0.1464", "2.4392", "0.2929", "1.1226"), BY_HAND),
        Input(("0.1", "0.3", "0.5", "0.01"), "BM3's grid and the paper's Baby setting (layers, dropout "
              "{0.3, 0.5}, λ {0.1, 0.01}), the tiny example's λ = 0.1 and the benchmark's goal "
              "ours / reference ≤ 0.5: hyper-parameters and targets, not results"),
        Input(("0.0883", "0.0383"), "MMRec's published BM3 result on Baby, with features",
              "mmrs.chapters.prose:PUBLISHED_RESULTS"),
        Input(("0.0754", "0.0328", "0.0575", "0.0249"), "MMRec's published LightGCN and BPR results on "
              "Baby", "mmrs.chapters.tables:MMREC_REFERENCE"),
        Input(("9",), "the BM3 paper's efficiency claim (2–9× less training time per epoch)"),
    ),
    "05_feature_models": (
        Input(("0.5", "0.018149", "0.435410", "0.453559", "1.25"), BY_HAND),
        Input(("0.1", "0.9", "0.8", "0.01"), "FREEDOM's modality weights (0.1 image, 0.9 text), its "
              "pruning ratios p ∈ {0.8, 0.9} and VBPR's λ values: hyper-parameters, not results"),
        Input(("0.0663", "0.0883", "0.0992"), "MMRec's published Baby Recall@20 of VBPR, BM3 and FREEDOM",
              "mmrs.chapters.prose:PUBLISHED_RESULTS"),
    ),
    "06_hierarchical": (
        Input(("4.5", "5.0"), "the gain Oh and Kim (2025) report",
              "mmrs.chapters.hierarchical:PAPER_GAIN_PP"),
    ),
    "07_matching": (
        Input(("0.8", "0.4", "0.667"), BY_HAND + " (also the photo jitter's range 0.8–1.2)"),
        Input(("100", "0.5", "0.3", "1.2", "30"), "perturbation constants of the simulated listings "
              "(mmrs.matching.perturb: crop 75–100 %, flip and edit probabilities, jitter "
              "U(0.8, 1.2), 30 % hard-negative products): inputs of the simulation"),
        Input(("0.1",), "exercise 7.3's threshold offset (an input)"),
    ),
}
"""Per page (notebook stem, or ``intro``): the numbers it types on purpose, with the reason."""

PUBLISHED_RESULTS: dict[str, dict[str, float]] = {
    "bm3": {"recall@20": 0.0883, "ndcg@20": 0.0383},
    "vbpr": {"recall@20": 0.0663},
    "freedom": {"recall@20": 0.0992},
}
"""MMRec's published Amazon Baby results of the multimodal models (test-selected; BM3 paper
Table 3, FREEDOM paper), quoted by Chapters 4 and 5 as inputs (the ID-only ones are in
:data:`mmrs.chapters.tables.MMREC_REFERENCE`)."""


# -- scanning the prose ----------------------------------------------------------------------

GLUE_ROLE = re.compile(r"\{glue(?::[a-z]+)?\}`([^`]*)`")
_CODE = re.compile(r"`[^`\n]*`")
_ROLE = re.compile(r"\{[a-z:]+\}`[^`]*`")
_LINK = re.compile(r"\]\([^)]*\)|<https?://[^>]*>|https?://\S+")
_LABEL = re.compile(
    r"(?:\b(?:figures?|fig\.|exercises?|solutions?|chapters?|sections?|tables?)|§)"
    r"\s*\d+(?:\.\d+)?(?:\s*(?:[–,-]|and|to|or)\s*\d+(?:\.\d+)?)*",
    re.IGNORECASE,
)
_HEADING = re.compile(r"^(#+\s+)\d+(?:\.\d+)*\.?", re.M)
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
NUMBER = re.compile(
    r"(?<![\w.@/^_])(?<!\w-)"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?P<unit>\s?%p|\s?%|×(?!\s*[\d(\\$])|\s?ms\b)?"
)
PLACEHOLDER = "⟨glued⟩"


def strip_non_prose(text: str) -> str:
    """``text`` without what the scan ignores: glue roles (a placeholder), fenced blocks other
    than directives' bodies, inline code, other roles (citations), links and labels."""
    text = GLUE_ROLE.sub(PLACEHOLDER, text)
    text = _FENCE.sub(lambda m: _fence_body(m.group(0)), text)
    text = _ROLE.sub(" ", text)
    text = _CODE.sub(" ", text)
    text = _LINK.sub(" ", text)
    text = _HEADING.sub(r"\1", text)
    return _LABEL.sub(" ", text)


def _fence_body(block: str) -> str:
    """A ``{directive}`` fence keeps its body (prose); a code fence is dropped."""
    first, _, rest = block.partition("\n")
    if first.lstrip("`~").startswith("{"):
        return "\n".join(line for line in rest.splitlines() if not line.startswith(":"))
    return " "


@dataclass(frozen=True)
class Found:
    """A number as written (``text``), its digits without unit (``number``) and its line."""

    text: str
    number: str
    line: str


def prose_numbers(markdown: str) -> list[Found]:
    """The result-like numbers of a markdown text: with a decimal point or a unit."""
    found = []
    for line in strip_non_prose(markdown).splitlines():
        for m in NUMBER.finditer(line):
            if "." in m["num"] or m["unit"]:
                found.append(Found(m.group(0).strip(), m["num"], line.strip()))
    return found


def glue_names_used(markdown: str) -> set[str]:
    """The keys of the glue roles in ``markdown`` (``{glue:text}`key:.3f``` → ``key``)."""
    names = set()
    for content in GLUE_ROLE.findall(markdown):
        key = content.rsplit(":", 1)[0] if ":" in content.replace("::", "") else content
        names.add(key.split("::")[-1])
    return names


def glue_names_defined(code: str) -> set[str]:
    """Names glued by ``glue("name", ...)`` calls with a literal name in a code cell (IPython
    magics and shell lines are skipped)."""
    source = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
    names = set()
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "glue"
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names.add(node.args[0].value)
    return names


def read_cells(path: str | Path) -> Iterator[tuple[str, str]]:
    """``(cell_type, source)`` of a notebook, or one markdown cell for a ``.md`` page."""
    path = Path(path)
    if path.suffix == ".md":
        yield "markdown", path.read_text(encoding="utf-8")
        return
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        source = cell["source"]
        yield cell["cell_type"], "".join(source) if isinstance(source, list) else source


def allowed_numbers(page: str) -> set[str]:
    """The numbers page ``page`` may type (:data:`QUOTED`)."""
    return {n for entry in QUOTED.get(page, ()) for n in entry.numbers}


@dataclass
class Audit:
    """What :func:`audit` found on one page."""

    page: str
    glued: int
    allowed: list[Found]
    unexplained: list[Found]
    undefined_glue: set[str]


def audit(path: str | Path) -> Audit:
    """Count a page's glued numbers, and list its typed numbers (allowed or not) and the glue
    names its markdown uses that no code cell of the same page glues."""
    path = Path(path)
    cells = list(read_cells(path))
    markdown = "\n\n".join(src for kind, src in cells if kind == "markdown")
    defined: set[str] = set()
    for kind, src in cells:
        if kind == "code":
            defined |= glue_names_defined(src)
    ok = allowed_numbers(path.stem)
    found = prose_numbers(markdown)
    return Audit(
        page=path.stem,
        glued=len(GLUE_ROLE.findall(markdown)),
        allowed=[f for f in found if f.number in ok],
        unexplained=[f for f in found if f.number not in ok],
        undefined_glue=glue_names_used(markdown) - defined,
    )


def numeric_leaves(obj: Any) -> Iterator[float]:
    """Every number inside nested dicts, lists, tuples and dataclass-like objects."""
    if isinstance(obj, bool):
        return
    if isinstance(obj, Number):
        yield float(obj)
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from numeric_leaves(v)
    elif isinstance(obj, (list, tuple, set)):
        for v in obj:
            yield from numeric_leaves(v)


def resolve(source: str) -> Any:
    """The object named ``"module:attribute"``."""
    module, _, attr = source.partition(":")
    return getattr(importlib.import_module(module), attr)


def in_source(number: str, values: Iterable[float]) -> bool:
    """Whether ``number`` (as written, e.g. ``"0.70"``) equals a value at its written precision."""
    digits = number.replace(",", "")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    target = float(digits)
    return any(abs(v - target) <= 0.5 * 10.0**-decimals + 1e-12 for v in values)


def source_mismatches() -> list[str]:
    """Typed inputs that their declared ``source`` does not contain (should be empty)."""
    bad = []
    for page, entries in QUOTED.items():
        for entry in entries:
            if entry.source is None:
                continue
            values = list(numeric_leaves(resolve(entry.source)))
            bad += [f"{page}: {n} not in {entry.source}" for n in entry.numbers if not in_source(n, values)]
    return bad
