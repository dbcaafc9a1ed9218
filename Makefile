# Quickstart: `make demo` and `make test` (each creates .venv and installs what it needs).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.gputrack-installed

.PHONY: demo test test-gpu lint bench clean

# cuCIM's CuImage alone (18 MB; its CUDA dependencies serve cucim.skimage only): whole-slide tile
# reading on the CPU; optional, its tests skip where it cannot be installed. `gputrack compile`
# then builds the compiled CPU code of every stage into gputrack/_jitcache (about a minute), so
# that no command compiles on its first run
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,dev,bench,napari]"
	$(BIN)/python -m pip install --quiet --no-deps "cucim-cu12>=25.2" || echo "cuCIM not installed: its tests skip"
	$(BIN)/gputrack compile
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gputrack demo --out out/demo --overwrite

# without a CUDA GPU the -m gpu tests run under tests/emulation (serial in the full run,
# then once more with seeded random block/atomic interleaving)
GPU_SEED ?= 20261202
test: $(STAMP)
	GPUTRACK_EMULATION_SCHEDULE=serial $(BIN)/python -m pytest -q --ignore=tests/napari
	GPUTRACK_EMULATION_SCHEDULE=random:$(GPU_SEED) $(BIN)/python -m pytest -q -m gpu
	.ci/napari-tests $(BIN)/python

test-gpu: $(STAMP)
	$(BIN)/python -m pytest -q -m gpu

# on a CUDA machine (no network needed, uses .venv when present): NVRTC compile of every kernel,
# pytest -m gpu, compute-sanitizer memcheck/racecheck/synccheck, GPU timings and benchmarks in
# <= 8 minutes; prints one table (also out/gpu-check/gpu_check.txt, logs beside it)
GPU_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))
.PHONY: gpu-check
gpu-check:
	$(GPU_PYTHON) bench/gpu_check.py --out out/gpu-check

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
