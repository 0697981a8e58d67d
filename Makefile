# labkit — Security Patterns Workbook.
# Needs only Python >= 3.11 and GNU make; every target bootstraps .venv itself
# and is safe to re-run (stamp files skip the pip step until pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8888
# Extra arguments for pytest, e.g. `make test PYTEST_ARGS="-k jwt -x"`.
PYTEST_ARGS ?=

# No network round-trip just to tell us a newer pip exists.
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# JupyterLab refuses to start as root unless told; only add the flag when needed.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

.DEFAULT_GOAL := help
.PHONY: help lab test bench build clean distclean

help:
	@echo "labkit — Security Patterns Workbook"
	@echo ""
	@echo "  make lab        install (once), copy the notebooks to work/ (yours, never overwritten)"
	@echo "                  and open JupyterLab at work/00-welcome.ipynb"
	@echo "                  (PORT=$(PORT); set JUPYTER_TOKEN to choose the token)"
	@echo "  make test       install dev tools (once), then ruff + the whole pytest suite"
	@echo "  make bench      run benchmarks/run.py, which writes BENCHMARKS.md"
	@echo "  make build      rebuild notebooks/ from course/ (labkit build)"
	@echo "  make clean      remove build/ and caches (keeps .venv)"
	@echo "  make distclean  clean, and remove .venv too"
	@echo ""
	@echo "Python used to create .venv: PYTHON=$(PYTHON) (needs >= 3.11)"

# --- bootstrap -------------------------------------------------------------

# Order-only everywhere: .venv/bin/python is a symlink, and make would compare
# the mtime of the system interpreter it points to.
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || { \
	  v=$$($(PYTHON) --version 2>&1 | head -n 1); \
	  echo "error: labkit needs Python >= 3.11, but PYTHON=$(PYTHON) is: $${v:-not found}" >&2; \
	  echo "       install a newer Python and run e.g. 'make $(or $(MAKECMDGOALS),lab) PYTHON=python3.12'" >&2; \
	  exit 1; }
	@$(PYTHON) -m venv $(VENV) || { \
	  rm -rf $(VENV); \
	  echo "error: '$(PYTHON) -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2; \
	  exit 1; }

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e .
	@touch $@

# The dev install includes the base install, so it refreshes both stamps.
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	@touch $(VENV)/.installed $@

# `make bench` adds JupyterHub (section 10: a learner's memory on a local hub).
$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev,bench]'
	@touch $(VENV)/.installed $(VENV)/.installed-dev $@

# --- user-facing targets ---------------------------------------------------

# Your work lives in work/ (ignored by git): `git pull` brings course updates to notebooks/
# without conflicts, and new notebooks are copied to work/ on the next `make lab`.
lab: $(VENV)/.installed
	$(BIN)/labkit work
	$(BIN)/jupyter lab --ip=127.0.0.1 --port=$(PORT) $(ALLOW_ROOT) work/00-welcome.ipynb

test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS) tests/

# Section 10 also needs configurable-http-proxy (npm install -g configurable-http-proxy);
# without it that section says "not measured" and how to install it.
bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/run.py

build: $(VENV)/.installed
	$(BIN)/labkit build

clean:
	rm -rf build/ .pytest_cache/ .ruff_cache/ dist/
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info
