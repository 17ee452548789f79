# quint-prep: every set-up step is here, so a fresh machine needs only `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP_QUIET := --quiet --disable-pip-version-check

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_QUIET) -e ".[test]"
	@touch $(STAMP)

install: $(STAMP)

# A small synthetic series in demo/ (git-ignored), then the main job on it.
demo: $(STAMP)
	$(BIN)/python -m quint_prep.synthetic demo/series 6
	$(BIN)/quint-prep inspect demo/series
	$(BIN)/quint-prep factor demo/series --max-size 1500x1000
	$(BIN)/quint-prep downscale demo/series -o demo/downscaled --max-size 1500x1000
	@echo "Demo done. Downscaled series: demo/downscaled/ (manifest: demo/downscaled/quint-prep.json)"

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/pip install $(PIP_QUIET) -e ".[test,bench]"
	$(BIN)/python bench/bench_downscale.py
	$(BIN)/python bench/bench_masks.py

clean:
	rm -rf demo bench/cache bench/results .pytest_cache
