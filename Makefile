# Set-up is part of every target: a fresh machine needs only python3 (3.11+).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Tests run in parallel on every core; override with PYTEST_ARGS= for a serial run.
PYTEST_ARGS ?= -n auto

.PHONY: setup demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## demo: generate identifiable DICOM files, de-identify them with the embedded vault, re-identify one subject with approval
demo: setup
	$(VENV)/bin/deid demo demo-output

## test: lint, type-check and run every test (PostgreSQL tests need VAULT_TEST_POSTGRES_URL's server)
test: lint typecheck unit

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

unit: setup
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) demo-output .mypy_cache .ruff_cache .pytest_cache
