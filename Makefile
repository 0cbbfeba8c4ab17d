# qupsample: the two commands a newcomer runs are `make generate` and `make test`.
# Both create .venv and install into it when needed: `generate` only qupsample and
# what it runs on, `test` the test and lint tools too. Versions come from
# constraints.txt (the pinned dev and CI environment); `make lock` refreshes it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
CONSTRAINTS := constraints.txt
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS)
# What is installed: the package alone, or with the dev extra (which includes it).
RUN_STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install generate test check bench demo lock clean

install: $(DEV_STAMP)

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	@echo "installing qupsample into $(VENV) (under a minute)..."
	@$(PIP_INSTALL) -e .
	@touch $@

$(DEV_STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	@echo "installing qupsample and its test and lint tools into $(VENV) (about two minutes)..."
	@$(PIP_INSTALL) -e '.[dev]'
	@touch $(RUN_STAMP) $@

generate: $(RUN_STAMP)
	$(BIN)/qupsample generate

test: $(DEV_STAMP)
	$(BIN)/python -m pytest

check: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src
	$(BIN)/qupsample generate --check

bench: $(DEV_STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/hostile.py
	$(BIN)/python bench/generate_scale.py
	$(BIN)/python bench/lint_scale.py

demo: $(RUN_STAMP)
	$(BIN)/qupsample demo demo

# Re-resolve every dependency (the dev extra included) to the newest release allowed by
# pyproject.toml, in a throwaway venv, and pin the result. Run it on purpose, review the
# diff, run `make test`, commit.
lock:
	@echo "resolving the newest allowed dependencies into $(CONSTRAINTS) (a few minutes)..."
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[dev]'; \
	{ echo "# The pinned dev and CI environment (pip constraints): every dependency of"; \
	  echo "# qupsample and of its dev extra. Written by \`make lock\` from a fresh install;"; \
	  echo "# the Makefile installs with -c $(CONSTRAINTS)."; \
	  "$$tmp/venv/bin/python" -m pip freeze --exclude-editable --exclude qupsample; \
	} > "$$tmp/$(CONSTRAINTS)"; \
	mv "$$tmp/$(CONSTRAINTS)" $(CONSTRAINTS)
	@echo "wrote $(CONSTRAINTS): review the diff, run make test, commit"

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis demo bench/out
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
