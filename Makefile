# campwatch: two commands do all the set-up.
#   make demo   create the environment if needed, run the Kangdong demo (simulated imagery)
#   make test   create the environment if needed, run lint, types and the whole test suite offline

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.campwatch-installed
WORKSPACE ?= demo-workspace

.PHONY: demo test lint pytest env clean benchmarks

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "campwatch needs Python 3.11 or newer, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

env: $(STAMP)

demo: $(STAMP)
	$(BIN)/campwatch demo --workspace $(WORKSPACE)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

test: lint pytest

benchmarks: $(STAMP)
	$(BIN)/python benchmarks/pipeline.py

clean:
	rm -rf $(VENV) $(WORKSPACE) .pytest_cache .mypy_cache .ruff_cache
