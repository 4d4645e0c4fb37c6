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
	$(BIN)/python benchmarks/bench_bm3.py --dataset amazon-baby --epochs 1 --torch-threads 1
	$(BIN)/python benchmarks/bench_bm3.py --size medium --epochs 1 --torch-threads 1
	$(BIN)/python benchmarks/bench_bm3.py --size ci --epochs 3 --batch-size 256 --torch-threads 1
	$(BIN)/python benchmarks/bench_table4.py --epochs 3 --torch-threads 1
	$(BIN)/python benchmarks/bench_matching.py --sizes 10000 30000 100000 1000000 --threads 1
	$(BIN)/python benchmarks/bench_matching.py --sizes 100000 --kinds ivf --threads 2 --out benchmarks/results/matching_scaling_100k_2threads.json

# Full replication runs (hours on 2 CPU cores); each writes a record into book/results.
RUN := $(BIN)/python -m mmrs train --profile full --torch-threads 1 --no-progress
replicate: $(STAMP)
	$(RUN) --model lightgcn --dataset amazon-baby --max-epochs 300 --out book/results/lightgcn_amazon-baby.json
	$(RUN) --model bpr --dataset amazon-baby --max-epochs 400 --out book/results/bpr_amazon-baby.json
	$(RUN) --model bpr --dataset amazon-sports --max-epochs 300 --out book/results/bpr_amazon-sports.json
	$(RUN) --model lightgcn --dataset amazon-sports --max-epochs 200 --out book/results/lightgcn_amazon-sports.json
	$(RUN) --model lightgcn --dataset amazon-clothing --max-epochs 200 --out book/results/lightgcn_amazon-clothing.json
	$(RUN) --model bpr --dataset amazon-clothing --max-epochs 300 --out book/results/bpr_amazon-clothing.json
	# the other points of MMRec's BPR grid on Sports (validation picks one: mmrs.results.select_by_validation)
	for reg in 0.1 1.0 0.01 0.001 2.0 1e-05; do \
	  $(RUN) --model bpr --dataset amazon-sports --max-epochs 300 --reg-weight $$reg \
	    --out book/results/grid/bpr_amazon-sports_reg$$reg.json; done
	# BM3 on Baby, ID-only: the paper's grid, layers {1,2} x dropout {0.3,0.5} x lambda {0.1,0.01}
	$(RUN) --model bm3 --dataset amazon-baby --max-epochs 200 --n-layers 1 --dropout 0.5 --reg-weight 0.1 --out book/results/bm3_amazon-baby.json
	for l in 1 2; do for d in 0.3 0.5; do for r in 0.1 0.01; do \
	  test "$$l $$d $$r" = "1 0.5 0.1" || $(RUN) --model bm3 --dataset amazon-baby --max-epochs 200 \
	    --n-layers $$l --dropout $$d --reg-weight $$r --out book/results/grid/bm3_amazon-baby_l$${l}_d$${d}_r$${r}.json; \
	done; done; done
	# BM3 and ablations on fashion-sim (Chapter 4)
	$(BIN)/python -m mmrs.models.bm3_run --size ci --max-epochs 30 --torch-threads 1 --out book/results/bm3_fashion-sim.json
	$(BIN)/python -m mmrs.models.bm3_run --size medium --max-epochs 40 --torch-threads 1 --out book/results/bm3_fashion-sim-medium.json
	$(BIN)/python -m mmrs.models.bm3_run --size full --max-epochs 150 --patience 20 --torch-threads 1 \
	  --variants "BM3 (v+t)" "w/o v&t" LightGCN --out book/results/bm3_fashion-sim-full.json
	$(BIN)/python -m mmrs.models.bm3_run --size full --max-epochs 150 --patience 20 --torch-threads 1 \
	  --variants "w/o v" "w/o t" --out book/results/bm3_fashion-sim-full-modalities.json
	$(BIN)/python -m mmrs.models.bm3_run --size full --max-epochs 150 --patience 20 --torch-threads 1 \
	  --variants "w/o inter" "w/o intra" BPR --out book/results/bm3_fashion-sim-full-losses.json
	# VBPR and FREEDOM on full fashion-sim (Chapter 5): the grid points run; validation picks one each
	for r in 0.0001 0.01 0.1 1.0 2.0 5.0 10.0; do $(BIN)/python -m mmrs.models.mm_run --size full --model vbpr \
	  --set reg_weight=$$r --out book/results/grid/vbpr_fashion-sim-full_r$$r.json; done
	for d in 0.8 0.9; do $(BIN)/python -m mmrs.models.mm_run --size full --model freedom \
	  --set dropout=$$d reg_weight=0.001 --out book/results/grid/freedom_fashion-sim-full_d$${d}_r0.001.json; done
	for r in 0.0001 0.0; do $(BIN)/python -m mmrs.models.mm_run --size full --model freedom \
	  --set dropout=0.8 reg_weight=$$r --out book/results/grid/freedom_fashion-sim-full_d0.8_r$$r.json; done
	for p in ci full; do $(BIN)/python -m mmrs.hierarchical.run --profile $$p --out book/results/hierarchical_$$p.json; done
	for d in abt-buy amazon-google fashion; do \
	  $(BIN)/python -m mmrs.matching.run --dataset $$d --profile full --quiet --out book/results/matching_$$d.json; done

clean:
	rm -rf _build
