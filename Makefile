# Short aliases; pyproject.toml is the single source of truth.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench bench-full clean

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[all]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/spotifier demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest src tests

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

bench-full: $(STAMP)
	$(BIN)/python bench/full_scale.py

clean:
	rm -rf $(VENV) spotifier-home .pytest_cache .mypy_cache .ruff_cache
