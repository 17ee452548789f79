# quint-prep: every set-up step is here, so a fresh machine needs only `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP_QUIET := --quiet --disable-pip-version-check

.PHONY: install demo test test-integration bench clean series all-series sweep docs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_QUIET) -e ".[test,dask]"
	$(BIN)/python -m compileall -q quint_prep >/dev/null  # .pyc files even where PYTHONDONTWRITEBYTECODE is set
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

# The "## Options" table of every docs/<command>.md, regenerated from the command line
# (between <!-- options:begin --> and <!-- options:end -->; tests/test_docs.py checks it).
docs: $(STAMP)
	$(BIN)/python -m quint_prep.cli.doc_options docs

# Our masks quantified by the real PyNutil (pinned): installs it into the venv, runs the
# tests marked pynutil (plain `make test` skips them when PyNutil is absent).
test-integration: $(STAMP)
	$(BIN)/pip install $(PIP_QUIET) "pynutil==0.6.2"
	$(BIN)/python -m pytest -m pynutil

# Every script runs even when an earlier one fails a budget; the target fails when any did.
BENCH_SCRIPTS := bench_startup bench_downscale bench_series bench_jobs bench_masks bench_scanner \
	bench_sections

bench: $(STAMP)
	$(BIN)/pip install $(PIP_QUIET) -e ".[test,bench]"
	$(BIN)/python -m compileall -q quint_prep >/dev/null  # start-up as a user's install has it: compiled
	@failed=""; for script in $(BENCH_SCRIPTS); do \
		echo "== bench/$$script.py"; \
		$(BIN)/python bench/$$script.py || failed="$$failed $$script"; \
	done; \
	if [ -n "$$failed" ]; then echo "bench: budgets failed in:$$failed" >&2; exit 1; fi

# Series from config files (README "Series with make"). Each config gets a stamp
# .series/NAME.done whose prerequisites are the config and every input file and folder
# (written by `quint-prep run CONFIG --make-deps`), so `make` reruns only the series whose
# config or inputs changed; inside a series quint-prep itself redoes only what changed.
# `make -j2 all-series` runs two series side by side. configs/example.toml (documentation,
# runs on the demo series) is left out of all-series: `make series CONFIG=configs/example.toml`.
SERIES_STATE := .series
SERIES_CONFIGS := $(filter-out configs/example.toml,$(wildcard configs/*.toml))
series_stamp = $(SERIES_STATE)/$(basename $(notdir $(1))).done

define series_rule
$(call series_stamp,$(1)): $(1) | $(STAMP)
	@mkdir -p $(SERIES_STATE)
	$(BIN)/quint-prep run $(1)
	@$(BIN)/quint-prep run $(1) --make-deps $$@ > $$@.d
	@touch $$@
endef
$(foreach config,$(sort $(SERIES_CONFIGS) $(CONFIG)),$(eval $(call series_rule,$(config))))
-include $(wildcard $(SERIES_STATE)/*.done.d)

series: $(if $(CONFIG),$(call series_stamp,$(CONFIG)))
	@test -n "$(CONFIG)" || { echo "usage: make series CONFIG=configs/NAME.toml" >&2; exit 2; }

all-series: $(foreach config,$(SERIES_CONFIGS),$(call series_stamp,$(config)))

# Trial factors for a series, with its config's images, segmentations and choices (OUTPUT/sweep).
sweep: $(STAMP)
	@test -n "$(CONFIG)" || { echo "usage: make sweep CONFIG=configs/NAME.toml" >&2; exit 2; }
	$(BIN)/quint-prep run $(CONFIG) --stage sweep

clean:
	rm -rf demo bench/cache bench/results .pytest_cache $(SERIES_STATE)
