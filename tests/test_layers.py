"""The library's layers depend one way: a module never imports from a layer above its own.

    data -> features -> graph/metrics/sampling -> models (and the algorithm packages retrieval,
    hierarchical, matching) -> train -> records -> experiments -> chapters -> cli

Every ``import``/``from`` statement in ``src/mmrs`` is checked, including those inside functions
(a lazy import does not make an upward dependency acceptable).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mmrs"

LAYERS: dict[str, int] = {
    "__init__": 0, "config": 0, "devices": 0, "provenance": 0,
    "data": 1,
    "features": 2,
    "graph": 3, "metrics": 3, "sampling": 3,
    "models": 4, "retrieval": 4, "hierarchical": 4, "matching": 4,
    "attribution": 4,
    "train": 5, "profiling": 5,
    "records": 6,
    "experiments": 7,
    "chapters": 8,
    "cli": 9, "__main__": 9,
}
"""Top-level module or package of ``mmrs`` -> its layer (0 lowest)."""

EXCEPTIONS: set[tuple[str, str]] = {
    # fashion-sim draws simulated users over the real catalogue and describes its items with the
    # pretrained encoders: a dataset built *from* features (data layer, uses features).
    ("data/fashion_sim.py", "features"),
}


def top_level(module: Path) -> str:
    rel = module.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def imported_tops(module: Path) -> set[str]:
    """Top-level ``mmrs`` names imported anywhere in ``module`` (absolute or relative)."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    package = module.relative_to(SRC).parent.parts
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "mmrs" and len(parts) > 1:
                    out.add(parts[1])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] != "mmrs":
                    continue
                names = parts[1:] or [a.name for a in node.names]
                out.add(names[0])
                continue
            base = list(package[: len(package) - (node.level - 1)]) if node.level > 1 else list(package)
            if node.level - 1 > len(package):
                raise AssertionError(f"{module}: relative import beyond the package")
            target = base + (node.module.split(".") if node.module else [])
            if target:
                out.add(target[0])
            else:  # "from . import x" at the package root
                out.update(a.name for a in node.names)
    return {t for t in out if t}


def modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_every_top_level_module_has_a_layer():
    missing = {top_level(m) for m in modules()} - LAYERS.keys()
    assert not missing, f"give these a layer in tests/test_layers.py: {sorted(missing)}"


@pytest.mark.parametrize("module", modules(), ids=lambda m: str(m.relative_to(SRC)))
def test_no_import_runs_up_the_layers(module: Path):
    mine = LAYERS[top_level(module)]
    rel = module.relative_to(SRC).as_posix()
    upward = [
        t for t in sorted(imported_tops(module))
        if t in LAYERS and LAYERS[t] > mine and (rel, t) not in EXCEPTIONS
    ]
    assert not upward, f"{rel} (layer {mine}) imports from higher layers: " + ", ".join(
        f"{t} ({LAYERS[t]})" for t in upward
    )


def test_the_checker_sees_relative_and_lazy_imports(tmp_path):
    """The parser itself: a lazy relative import two levels up is found."""
    pkg = SRC / "models"
    fake = pkg / "_probe_for_test.py"
    source = "def f():\n    from ..records import save\n    from . import base\n    import mmrs.chapters.tables\n"
    fake.write_text(source)
    try:
        assert imported_tops(fake) == {"records", "models", "chapters"}
    finally:
        fake.unlink()
