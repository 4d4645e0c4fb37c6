# Two commands do everything on a fresh clone: `make book` and `make test`.
# Both create .venv when it is missing. MMRS_DATA defaults to ../shared/datasets.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Executed copies live outside _build: nbmake skips any path containing "_build".
EXEC   := executed
export MMRS_DATA ?= $(abspath ../shared/datasets)
export MMRS_PROFILE ?= ci
export HF_HUB_OFFLINE := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book test lint unit notebooks site clean venv bench replicate replicate-dry test-colab assignments

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m pip install --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

unit: $(STAMP)
	$(BIN)/python -m pytest tests

# Execute copies of the chapter notebooks exactly once (the committed ones stay clean).
# --nbmake-timeout is per cell: no cell may take over 2 minutes at the ci profile.
notebooks: $(STAMP)
	rm -rf $(EXEC) && mkdir -p $(EXEC)
	cp _config.yml _toc.yml $(EXEC)/
	cp -r book $(EXEC)/book
	cd $(EXEC) && ../$(BIN)/python -m pytest -p no:cacheprovider --nbmake --overwrite \
	    --nbmake-timeout=120 book/*.ipynb

# Render the executed copies into _build/html (warnings are errors).
site:
	$(BIN)/jupyter-book build $(EXEC) --path-output _build/jb -W --keep-going
	rm -rf _build/html && cp -r _build/jb/_build/html _build/html
	@echo "Book: file://$(abspath _build/html/index.html)"

book: $(STAMP) notebooks site

test: lint unit notebooks site

# Every record the book shows is a named point of an experiment (src/mmrs/experiments):
# `python -m mmrs run EXPERIMENT --list` shows its points, their commands and which are stale.

# A reader's Colab button, simulated: the wheel installed by each chapter's own first cell into a
# fresh environment, data fetched from a local mirror (scripts/test_colab.py; not in CI: minutes
# and several GB for a fresh torch).
COLAB_CHAPTERS ?= 01_sparsity 03_lightgcn
test-colab: $(STAMP)
	$(BIN)/python scripts/test_colab.py $(COLAB_CHAPTERS)

# Course assignments (assignments/, see its README): Otter Assign turns each source notebook into a
# student notebook (no solutions, public tests) and a grading bundle, in _build/assignments/<name>/
# {student,autograder}; --check then grades, in-process with the bundles' tests, the reference
# solutions (full marks), the untouched student notebooks (zero) and every listed wrong answer
# (must lose points). About half a minute on 2 cores. tests/test_assignments.py checks the same.
assignments: $(STAMP)
	$(BIN)/python assignments/build.py --out _build/assignments --check

bench: $(STAMP)
	$(BIN)/python -m mmrs run benchmarks --all

# Full replication runs (hours on 2 CPU cores): every record in book/results and benchmarks/results
# is a target of workflow/Snakefile; only the out-of-date ones (stale against the code or the data,
# missing, unknown) run, two single-thread jobs at a time. replicate-dry lists them.
# On a cluster: snakemake --profile workflow/profiles/slurm (see that file).
# The MALLOC_ settings keep glibc from returning large freed blocks to the OS: a batch's dense
# gradient of a feature table is then not page-faulted in afresh every step (same numbers; on
# Amazon Baby FREEDOM's epoch 14.1 -> 11.0 CPU-s, VBPR's 5.0 -> 3.4). Records store them.
replicate: $(STAMP)
	MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1073741824 \
	    $(BIN)/snakemake --snakefile workflow/Snakefile --cores 2

replicate-dry: $(STAMP)
	$(BIN)/snakemake --snakefile workflow/Snakefile -n --quiet host rules

clean:
	rm -rf _build
