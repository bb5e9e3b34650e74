# alert-courier: `make run` starts the local stack, `make test` runs every test (both create the venvs).
SHELL := /bin/bash
PYTHON ?= $(shell ls /root/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | head -n1 || true)
ifeq ($(PYTHON),)
PYTHON := $(shell command -v python3.13 2>/dev/null || command -v python3)
endif
VENV := .venv
VENV_SAM := .venv-sam
BIN := $(VENV)/bin

.PHONY: run test unit lint format bench build deploy venv venv-sam clean

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(VENV_SAM)/.installed:
	$(PYTHON) -m venv $(VENV_SAM)
	$(VENV_SAM)/bin/pip install -q --upgrade pip
	$(VENV_SAM)/bin/pip install -q aws-sam-cli==1.170.0
	touch $@

venv: $(VENV)/.installed
venv-sam: $(VENV_SAM)/.installed

run: venv
	$(BIN)/python -m alert_courier_local

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/common/alert_courier local/alert_courier_local
	$(BIN)/mypy functions/ingest/app.py
	$(BIN)/mypy functions/dispatch/app.py
	$(BIN)/mypy functions/scheduler/app.py

unit: venv
	$(BIN)/pytest -q -m "not slow and not faults"

test: venv venv-sam lint
	PATH="$(dir $(PYTHON)):$$PATH" $(BIN)/pytest -q

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# sam build ships no .pyc; compiling the output (hash-checked, so SAM's zip timestamps don't matter) halves
# the functions' cold start. The interpreter must be the runtime's (python3.13).
build: venv-sam
	PATH="$(dir $(PYTHON)):$$PATH" $(VENV_SAM)/bin/sam build
	$(PYTHON) -m compileall -q --invalidation-mode unchecked-hash .aws-sam/build

deploy: build
	$(VENV_SAM)/bin/sam deploy --guided

bench: venv
	$(BIN)/python -m alert_courier_local.bench

clean:
	rm -rf $(VENV) $(VENV_SAM) .aws-sam .pytest_cache .mypy_cache .ruff_cache
