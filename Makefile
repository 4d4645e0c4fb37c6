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

.PHONY: book test lint unit notebooks site clean venv bench replicate

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
notebooks: $(STAMP)
	rm -rf $(EXEC) && mkdir -p $(EXEC)
	cp _config.yml _toc.yml $(EXEC)/
	cp -r book $(EXEC)/book
	cd $(EXEC) && ../$(BIN)/python -m pytest -p no:cacheprovider --nbmake --overwrite \
	    --nbmake-timeout=900 book/*.ipynb

# Render the executed copies into _build/html (warnings are errors).
site:
	$(BIN)/jupyter-book build $(EXEC) --path-output _build/jb -W --keep-going
	rm -rf _build/html && cp -r _build/jb/_build/html _build/html
	@echo "Book: file://$(abspath _build/html/index.html)"

book: $(STAMP) notebooks site

test: lint unit notebooks site

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_lightgcn.py --torch-threads 1
	$(BIN)/python benchmarks/bench_matching.py

# Full replication runs (hours on 2 CPU cores); each writes a record into book/results.
RUN := $(BIN)/python -m mmrs train --profile full --torch-threads 1 --no-progress
replicate: $(STAMP)
	$(RUN) --model lightgcn --dataset amazon-baby --max-epochs 300 --out book/results/lightgcn_amazon-baby.json
	$(RUN) --model bpr --dataset amazon-baby --max-epochs 400 --out book/results/bpr_amazon-baby.json
	$(RUN) --model bpr --dataset amazon-sports --max-epochs 300 --out book/results/bpr_amazon-sports.json
	$(RUN) --model lightgcn --dataset amazon-sports --max-epochs 200 --out book/results/lightgcn_amazon-sports.json
	$(RUN) --model lightgcn --dataset amazon-clothing --max-epochs 200 --out book/results/lightgcn_amazon-clothing.json
	$(RUN) --model bpr --dataset amazon-clothing --max-epochs 300 --out book/results/bpr_amazon-clothing.json
	for d in abt-buy amazon-google fashion; do \
	  $(BIN)/python -m mmrs.matching.run --dataset $$d --profile full --quiet --out book/results/matching_$$d.json; done

clean:
	rm -rf _build
