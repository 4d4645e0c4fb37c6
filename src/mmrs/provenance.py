"""Where a result came from: the git revision of the code that produced it.

Every results record (training, matching, hierarchical retrieval) stores these, so a number in
the book can be traced to the exact code and to whether uncommitted edits were present.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=_HERE, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout


def git_revision() -> str | None:
    """``git rev-parse HEAD`` of the repository holding this package; ``None`` if unknown."""
    out = _git("rev-parse", "HEAD")
    if out is None:
        return None
    return out.strip() or None


def git_dirty() -> bool | None:
    """Whether tracked files differ from ``HEAD`` (untracked files, e.g. new records, do not count)."""
    out = _git("status", "--porcelain", "--untracked-files=no")
    return None if out is None else bool(out.strip())
