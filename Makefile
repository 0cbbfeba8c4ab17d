# qupsample: the two commands a newcomer runs are `make generate` and `make test`.
# Both create .venv and install the project into it when needed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install generate test check bench demo clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

generate: $(STAMP)
	$(BIN)/qupsample generate

test: $(STAMP)
	$(BIN)/python -m pytest

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src
	$(BIN)/qupsample generate --check

bench: $(STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/hostile.py
	$(BIN)/python bench/generate_scale.py
	$(BIN)/python bench/lint_scale.py

demo: $(STAMP)
	$(BIN)/qupsample demo demo

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis demo bench/out
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
