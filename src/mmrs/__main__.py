"""``python -m mmrs``: see :mod:`mmrs.cli` (building the parser imports no torch)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
