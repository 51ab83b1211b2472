# `make test` is the one command CI runs (.ci/run): it builds .venv from the pinned requirements,
# then runs ruff (lint + format check), mypy --strict on the package and the sandbox, and the whole
# default pytest tier (sandboxes on loopback). Other targets:
#   make test-py PY=/path/to/python3.10   the pytest tier on another Python, in its own .venv-<version>
#   make test-real-misp                   the real-MISP tier alone (tools/realmisp/README.md)
#   make demo | make bench                the sandbox demo | the benchmarks (bench/)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: test lint typecheck pytest test-py test-real-misp demo bench venv clean format

test: lint typecheck pytest

venv: $(STAMP)

$(STAMP): requirements.txt requirements-plugin.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python >= 3.10 is needed (PYTHON=$(PYTHON))")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest -q

test-py:
	@test -n "$(PY)" || { echo "usage: make test-py PY=/path/to/python3.X" >&2; exit 2; }
	$(MAKE) pytest PYTHON=$(PY) VENV=.venv-$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')

test-real-misp: $(STAMP)
	$(BIN)/python -m pytest -q -m realmisp tests/realmisp

demo: $(STAMP)
	$(BIN)/python -m sandbox --demo

bench: $(STAMP)
	$(BIN)/python bench/plugin_latency.py
	$(BIN)/python bench/plugin_slow_misp.py
	$(BIN)/python bench/regex_worst_case.py
	$(BIN)/python bench/convert.py
	$(BIN)/python bench/upload_throughput.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/state_tables.py

clean:
	rm -rf .venv .venv-3.* .mypy_cache .ruff_cache .pytest_cache

# Azurite (Microsoft's Azure Storage emulator, pinned in tools/azurite/) for the Table-state and Function
# tests, installed into .tools/azurite when missing; without node/npm it says why and those tests skip.
.PHONY: azurite
azurite:
	@tools/azurite/install.sh

pytest: azurite

# The Azure Function's deployable zip, dist/misp2sentinel-function.zip (tools/function_zip.py): the app and
# misp_bridge, dependencies left to Azure's remote build; BUNDLE=1 [FUNCTION_PYTHON=3.11] bundles Linux
# wheels in .python_packages instead. docs/azure-function.md says how to deploy either.
FUNCTION_PYTHON ?= 3.11
.PHONY: function-zip
function-zip: $(STAMP)
	$(BIN)/python tools/function_zip.py $(if $(BUNDLE),--bundle --python $(FUNCTION_PYTHON))

# mypy --strict on the Function App's entry point and its zip builder too (outside the package).
.PHONY: typecheck-function
typecheck: typecheck-function
typecheck-function: $(STAMP)
	$(BIN)/mypy azure_function/function_app.py tools/function_zip.py
