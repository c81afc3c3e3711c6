# Every target installs what it needs: a fresh clone needs only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
STAMP_ML := $(VENV)/.installed-ml

.PHONY: run test bench migrate reconcile worker api install install-ml clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

# torch first, pinned, so sentence-transformers does not pull the CUDA build.
$(STAMP_ML): $(STAMP)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,ml]'
	@touch $@

install: $(STAMP)
install-ml: $(STAMP_ML)

run: $(STAMP)
	$(PY) -m infra.dev run

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m tests.bench.run

migrate: $(STAMP)
	$(PY) -m infra.migrate

reconcile: $(STAMP)
	$(PY) -m jobs.reconcile_counters

clean:
	rm -rf $(VENV) .pytest_cache
