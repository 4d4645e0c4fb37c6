"""Every committed record was made from a clean tree at a commit in this repository's history.

A record states ``git.revision`` (the commit its run started from) and ``git.dirty`` (whether the
tracked files differed from that commit). This test fails on a record that

- was made from a dirty tree (``dirty: true``),
- has no revision, or a revision that is not an ancestor of ``HEAD`` (made on a branch that was
  never merged, or rewritten history),
- does not say whether the tree was clean (``dirty: null``), unless it is one of the
  :data:`UNSTATED` records made before the runners recorded the flag (listed by path below; the
  list may only shrink: a listed record that now states its tree fails the test until it is
  removed from the list, and a record re-made by today's runners always states it).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AREAS = ("book/results", "benchmarks/results")

UNSTATED: frozenset[str] = frozenset({
    # Made on 2026-11-22 by runners that recorded the revision but not yet whether the tree was
    # clean (the flag came with schema v1). Re-made by `make replicate`; remove each as it lands.
    "benchmarks/results/bm3_vs_reference_amazon-baby.json",
    "benchmarks/results/bm3_vs_reference_ci.json",
    "benchmarks/results/bm3_vs_reference_medium.json",
    "benchmarks/results/matching_scaling.json",
    "benchmarks/results/matching_scaling_100k_2threads.json",
    "benchmarks/results/table4_baby.json",
    "book/results/bm3_amazon-baby.json",
    "book/results/bm3_fashion-sim-full-losses.json",
    "book/results/bm3_fashion-sim-full-modalities.json",
    "book/results/bm3_fashion-sim-medium.json",
    "book/results/bm3_fashion-sim.json",
    "book/results/bpr_amazon-baby.json",
    "book/results/bpr_amazon-clothing.json",
    "book/results/bpr_amazon-sports.json",
    "book/results/grid/bm3_amazon-baby_l1_d0.3_r0.01.json",
    "book/results/grid/bm3_amazon-baby_l1_d0.3_r0.1.json",
    "book/results/grid/bm3_amazon-baby_l1_d0.5_r0.01.json",
    "book/results/grid/bm3_amazon-baby_l2_d0.3_r0.01.json",
    "book/results/grid/bm3_amazon-baby_l2_d0.3_r0.1.json",
    "book/results/grid/bm3_amazon-baby_l2_d0.5_r0.01.json",
    "book/results/grid/bm3_amazon-baby_l2_d0.5_r0.1.json",
    "book/results/grid/bpr_amazon-sports_reg0.001.json",
    "book/results/grid/bpr_amazon-sports_reg0.01.json",
    "book/results/grid/bpr_amazon-sports_reg0.1.json",
    "book/results/grid/bpr_amazon-sports_reg1.0.json",
    "book/results/grid/bpr_amazon-sports_reg1e-05.json",
    "book/results/grid/freedom_fashion-sim-full_d0.8_r0.0.json",
    "book/results/grid/freedom_fashion-sim-full_d0.8_r0.0001.json",
    "book/results/grid/freedom_fashion-sim-full_d0.9_r0.001.json",
    "book/results/lightgcn_amazon-baby.json",
    "book/results/lightgcn_amazon-clothing.json",
    "book/results/lightgcn_amazon-sports.json",
})


def _committed_records() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--", *(f"{a}/*.json" for a in AREAS)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        pytest.skip("not a git checkout: provenance is checked in the repository only")
    return sorted(p for p in out.stdout.splitlines() if p)


def _is_ancestor(revision: str) -> bool:
    return subprocess.run(
        ["git", "merge-base", "--is-ancestor", revision, "HEAD"], cwd=ROOT, capture_output=True,
        check=False,
    ).returncode == 0


def _shallow() -> bool:
    out = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    return out.stdout.strip() == "true"


RECORDS = _committed_records() if (ROOT / ".git").exists() else []


def problem(path: str, git: dict, in_history) -> str | None:
    """Why the record at ``path`` with ``git`` fails the rule (``None``: it passes)."""
    revision, dirty = git.get("revision"), git.get("dirty")
    if not revision:
        return f"{path}: no git revision; re-make it with `python -m mmrs run` (clean tree)"
    if not in_history(revision):
        return f"{path}: revision {revision[:10]} is not in HEAD's history"
    if dirty is True:
        return f"{path}: made from a dirty tree; re-make it from a clean checkout"
    if dirty is None and path not in UNSTATED:
        return (f"{path}: does not say whether its tree was clean; today's runners always do, "
                "so re-make it with `python -m mmrs run`")
    if dirty is False and path in UNSTATED:
        return f"{path} now states its tree: remove it from UNSTATED"
    return None


@pytest.mark.parametrize("path", RECORDS)
def test_record_comes_from_a_clean_tree_in_main_history(path):
    git = json.loads((ROOT / path).read_text())["git"]
    in_history = (lambda rev: True) if _shallow() else _is_ancestor
    assert problem(path, git, in_history) is None, problem(path, git, in_history)


def test_unstated_list_names_only_committed_records():
    if not RECORDS:
        pytest.skip("not a git checkout")
    assert set(UNSTATED) <= set(RECORDS)


def test_the_rule_on_records_that_must_fail_or_pass():
    legacy = next(iter(sorted(UNSTATED)))
    yes, no = (lambda rev: True), (lambda rev: False)
    assert problem("book/results/x.json", {"revision": "a" * 40, "dirty": False}, yes) is None
    assert "dirty tree" in problem("book/results/x.json", {"revision": "a" * 40, "dirty": True}, yes)
    assert "no git revision" in problem("x.json", {"revision": None, "dirty": False}, yes)
    assert "not in HEAD" in problem("x.json", {"revision": "a" * 40, "dirty": False}, no)
    assert "does not say" in problem("book/results/new.json", {"revision": "a" * 40, "dirty": None}, yes)
    assert problem(legacy, {"revision": "a" * 40, "dirty": None}, yes) is None
    assert "remove it" in problem(legacy, {"revision": "a" * 40, "dirty": False}, yes)
    if RECORDS:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=False).stdout.strip()
        assert _is_ancestor(head) and not _is_ancestor("0" * 40)
