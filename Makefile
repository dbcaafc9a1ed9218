# Quickstart: `make demo` and `make test` (each creates .venv and installs what it needs).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.gputrack-installed

.PHONY: demo test test-gpu lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,dev,bench]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gputrack demo --out out/demo --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-gpu: $(STAMP)
	$(BIN)/python -m pytest -q -m gpu

lint: $(STAMP)
	$(BIN)/ruff check gputrack tests bench examples

# quick settings, written under out/bench/ (bench/results/ holds the full runs quoted in the README)
bench: $(STAMP)
	mkdir -p out/bench
	$(BIN)/python bench/io.py --size 4096 --out out/bench/io.json
	$(BIN)/python bench/features.py --quick --out out/bench/features.json
	$(BIN)/python bench/forest.py --sizes 200000 --out out/bench/forest.json
	$(BIN)/python bench/objects.py --quick --out out/bench/objects.json
	$(BIN)/python bench/pixel.py --quick --out out/bench/pixel.json
	$(BIN)/python bench/tracking.py --quick --out out/bench/tracking.json
	$(BIN)/python bench/track_ctc.py --frames 30 --objects 300 --size 512 --out out/bench/track_ctc.json
	$(BIN)/python bench/track_classifiers.py --out out/bench/track_classifiers.json

clean:
	rm -rf out build dist .pytest_cache
