"""``python -m mmrs``: see :mod:`mmrs.cli`."""

from .cli import main

raise SystemExit(main())
