"""Peak memory of each chapter at the ci profile: will it run on Binder (about 2 GB)?

    python benchmarks/bench_notebook_memory.py --out benchmarks/results/notebook_memory.json

Each chapter is executed in a fresh kernel (nbclient, the executor nbmake uses) from a copy of
``book/`` in a temporary folder; one extra cell appended at the end reads the kernel's peak
resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, KiB on Linux). Processes the
kernel starts (e.g. the subprocesses of a ``!`` command) are not counted; the chapters start none
outside Colab.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from mmrs import records

ROOT = Path(__file__).resolve().parents[1]
PROBE = "import resource\nprint('PEAK_RSS_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
BINDER_MB = 2048


def peak_of(notebook: Path, timeout: int) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of one chapter run in a fresh kernel."""
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    tic = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(notebook.parent)}}).execute()
    seconds = time.perf_counter() - tic
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    kib = int(text.split("PEAK_RSS_KIB", 1)[1].split()[0])
    return kib / 1024, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapters", nargs="*", default=None, help="default: every chapter")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("MMRS_PROFILE", "ci")
    work = Path(tempfile.mkdtemp(prefix="mmrs-mem-"))
    shutil.copytree(ROOT / "book", work / "book")
    names = args.chapters or sorted(p.stem for p in (work / "book").glob("0*.ipynb"))
    rows = []
    for name in names:
        mib, seconds = peak_of(work / "book" / f"{name}.ipynb", args.timeout)
        rows.append({"chapter": name, "peak_rss_mb": round(mib, 1), "seconds": round(seconds, 1),
                     "fits_binder_2gb": mib < BINDER_MB})
        print(rows[-1], file=sys.stderr)
    result = {"benchmark": "peak RSS of each chapter's kernel at the ci profile (Binder: ~2 GB)",
              "profile": os.environ["MMRS_PROFILE"], "rows": rows}
    if args.out:
        records.save(records.benchmark_record(result, "book chapters"), args.out)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
