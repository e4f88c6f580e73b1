# Set-up is part of every target: a fresh machine needs only python3 (3.11+).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Tests run in parallel on every core; override with PYTEST_ARGS= for a serial run.
PYTEST_ARGS ?= -n auto
# Every version installed, transitive ones included, pinned in one file (make lock).
CONSTRAINTS := constraints.txt
# The lock tool, in a venv of its own so the project's venv holds only what is pinned.
UV_VERSION := 0.13.10
UV := $(VENV)/tools/bin/uv
LOCK := $(UV) pip compile pyproject.toml --extra dev --extra docs --universal \
	--python-version 3.11 --custom-compile-command 'make lock' --quiet --output-file $(CONSTRAINTS)

.PHONY: setup demo test lint typecheck docs docs-serve docs-screenshots unit bench lock \
	lock-upgrade clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e '.[dev,docs]'
	touch $(STAMP)

setup: $(STAMP)

## demo: generate identifiable DICOM files, de-identify them with the embedded vault, re-identify one subject with approval
demo: setup
	$(VENV)/bin/deid demo demo-output

## test: lint, type-check, build the docs site and run every test (PostgreSQL tests need VAULT_TEST_POSTGRES_URL's server)
test: lint typecheck docs unit

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

## docs: build the documentation site into site/ (any warning fails the build)
# (NO_MKDOCS_2_WARNING: Material's banner about its end of life in 2027; see docs/development.md)
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

docs-serve: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

## docs-screenshots: rerun the console's browser tests (SQLite) and keep their pictures in docs/assets/console/
docs-screenshots: setup
	DEID_DOCS_SCREENSHOTS=1 $(PY) -m pytest -p no:xdist -q -m browser \
		tests/console/test_console_browser.py -k sqlite

unit: setup
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) -m bench

$(UV):
	python3 -m venv $(VENV)/tools
	$(VENV)/tools/bin/python -m pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)'

## lock: re-resolve constraints.txt from pyproject.toml, keeping every pin that is still allowed
lock: $(UV)
	$(LOCK)

## lock-upgrade: move every pin in constraints.txt to the newest version pyproject.toml allows
lock-upgrade: $(UV)
	$(LOCK) --upgrade

clean:
	rm -rf $(VENV) demo-output site .mypy_cache .ruff_cache .pytest_cache
