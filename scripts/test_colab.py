"""Simulate a reader who presses a chapter's Colab button: ``make test-colab``.

    python scripts/test_colab.py 01_sparsity 03_lightgcn [--venv /tmp/mmrs-colab-venv]

For each chapter: build this checkout's wheel; make a fresh virtual environment holding only
what Colab would already have (Python, torch, torchvision, Jupyter's kernel machinery) — not the
book's package, not its extras, not its data; pack the chapter's datasets from the verified local
copy (``python -m mmrs data pack``) and serve them from 127.0.0.1; copy the ONE notebook into an
empty folder; execute it with ``MMRS_COLAB=1`` (its first code cell then does what it does on
Colab: installs the wheel with the chapter's extras, fetches the data from the local mirror into
a fresh per-user cache) and with no ``MMRS_DATA``, no checkout on the path, and a fresh ``HOME``.
It passes when every cell runs.

Not part of CI: a fresh environment with torch takes several GB and minutes to install, more than
CI's 15-minute budget allows next to the book itself. Run it before a release.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = {  # what each chapter's first cell fetches (keep in step with the notebooks)
    "01_sparsity": ["amazon-baby", "amazon-sports", "amazon-clothing"],
    "02_evaluation": ["amazon-baby"],
    "03_lightgcn": ["amazon-baby"],
    "04_bm3": ["fashion-small", "amazon-clothing"],
    "05_feature_models": ["fashion-small", "amazon-clothing"],
    "06_hierarchical": ["fashion-small"],
    "07_matching": ["abt-buy", "amazon-google", "fashion-small"],
}
COLAB_HAS = ["torch==2.14.1", "torchvision==0.29.1", "ipykernel", "nbclient", "nbformat"]
"""What a Colab runtime already has (versions: this machine's local copies)."""


def run(argv: list[str], **kwargs) -> None:
    print("$", " ".join(map(str, argv)), flush=True)
    subprocess.run(argv, check=True, **kwargs)


def build_wheel(out: Path) -> Path:
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)])
    return next(out.glob("mmrs-*.whl"))


def fresh_venv(path: Path) -> Path:
    python = path / "bin" / "python"
    if not python.exists():
        run([sys.executable, "-m", "venv", str(path)])
        run([str(python), "-m", "pip", "install", "-q", *COLAB_HAS])
    # never let an earlier run's mmrs leak into this one
    subprocess.run([str(python), "-m", "pip", "uninstall", "-q", "-y", "mmrs"], check=False)
    return python


def pack(datasets: list[str], out: Path) -> None:
    for name in datasets:
        run([sys.executable, "-m", "mmrs", "data", "pack", name, "--out-dir", str(out)])


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def execute(python: Path, notebook: Path, env: dict[str, str], timeout: int) -> None:
    code = (
        "import nbformat, sys\n"
        "from nbclient import NotebookClient\n"
        f"nb = nbformat.read({str(notebook)!r}, as_version=4)\n"
        f"NotebookClient(nb, timeout={timeout}, kernel_name='python3',"
        f" resources={{'metadata': {{'path': {str(notebook.parent)!r}}}}}).execute()\n"
        f"nbformat.write(nb, {str(notebook)!r})\n"
        "print('executed', len(nb.cells), 'cells')\n"
    )
    run([str(python), "-c", code], env=env, cwd=notebook.parent)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="+", choices=sorted(DATASETS))
    parser.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "mmrs-colab-venv",
                        help="the Colab-like environment (made once, reused: torch is large)")
    parser.add_argument("--cell-timeout", type=int, default=600)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="mmrs-colab-"))
    wheel = build_wheel(work / "wheel")
    python = fresh_venv(args.venv)
    archives = work / "archives"
    pack(sorted({d for c in args.chapters for d in DATASETS[c]}), archives)
    server, url = serve(archives)
    try:
        for chapter in args.chapters:
            tic = time.perf_counter()
            alone = work / chapter
            (alone / "home").mkdir(parents=True)
            shutil.copy(ROOT / "book" / f"{chapter}.ipynb", alone / f"{chapter}.ipynb")
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("MMRS_", "PYTHON", "VIRTUAL_ENV"))}
            env.update(HOME=str(alone / "home"), MMRS_COLAB="1", MMRS_INSTALL=wheel.as_uri(),
                       MMRS_DATA_URL=url, MMRS_PROFILE="ci", HF_HUB_OFFLINE="1",
                       PATH=f"{python.parent}:{env.get('PATH', '')}")
            execute(python, alone / f"{chapter}.ipynb", env, args.cell_timeout)
            print(f"{chapter}: ran alone from its first cell in {time.perf_counter() - tic:.0f} s")
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
