# Quickstart: `make demo` and `make test` (each creates .venv and installs what it needs).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.gputrack-installed

.PHONY: demo test test-gpu lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gputrack demo --out out/demo --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-gpu: $(STAMP)
	$(BIN)/python -m pytest -q -m gpu

lint: $(STAMP)
	$(BIN)/ruff check gputrack tests bench examples

bench: $(STAMP)
	$(BIN)/python bench/io.py
	$(BIN)/python bench/features.py --quick
	$(BIN)/python bench/forest.py --quick
	$(BIN)/python bench/objects.py --quick

clean:
	rm -rf out build dist .pytest_cache
