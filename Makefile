# Surge. On a fresh clone `make run` and `make test` each set up everything they need.
# Variables: PYTHON (an interpreter, 3.11+, to build the venv from), DATE (for `make report`).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: setup run serve test lint bench stack-up stack-down stack-status

## setup: the venv with Surge and its dev tools, and the stack's jars (downloaded once)
setup: $(INSTALLED)
	$(PY) -m infra jars

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Surge needs Python 3.11+: run make PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# compat mode: a plain path entry to the repo, the simplest editable install of a flat layout
	$(PY) -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $@

## run: the pipeline end to end once on the local stack (left running): see README
run: setup
	$(PY) -m infra up
	$(PY) -m infra.smoke
	$(PY) -m infra.pipeline

## serve: the collector (port 8080, write key `dev`) and the lander, until Ctrl-C
serve: setup
	$(PY) -m infra.pipeline --serve

## test: the whole suite against a real stack (reused if up, else started and stopped)
test: setup
	$(PY) -m pytest

## bench: the benchmarks (speed goals are measured here, never in tests)
bench: setup
	$(PY) bench/bench_validate.py

lint: $(INSTALLED)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

stack-up: setup
	$(PY) -m infra up

stack-down: $(INSTALLED)
	$(PY) -m infra down

stack-status: $(INSTALLED)
	$(PY) -m infra status
