# The two commands of the README. Both work from a fresh clone: they create .venv if it is
# missing and install the project (with its dev tools) into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo lint types imports pytest components bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || ( $(PYTHON) -m pip install --user virtualenv && $(PYTHON) -m virtualenv $(VENV) )
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

test: $(STAMP) lint types imports pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: $(STAMP)
	$(BIN)/mypy --strict src

imports: $(STAMP)
	$(BIN)/lint-imports

# The real components some tests use (PostgreSQL, Chromium, …): installed when missing (tools/components/).
components:
	@bash tools/components/run-all.sh

pytest: $(STAMP) components
	$(BIN)/pytest -n 2 -W error

demo: $(STAMP)
	$(BIN)/binance-lake demo

bench: $(STAMP)
	$(BIN)/python bench/sim.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
