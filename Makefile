# alert-courier: `make run` starts the local stack, `make test` runs every test (both create the venvs;
# `make test` also installs the Debian packages the end-to-end test needs, see .ci/install-system-packages).
SHELL := /bin/bash
PYTHON ?= $(shell ls /root/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | head -n1 || true)
ifeq ($(PYTHON),)
PYTHON := $(shell command -v python3.13 2>/dev/null || command -v python3)
endif
VENV := .venv
VENV_SAM := .venv-sam
BIN := $(VENV)/bin

.PHONY: run test unit lint format bench soak build deploy venv venv-sam system-packages clean

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

system-packages:
	.ci/install-system-packages

run: venv
	$(BIN)/python -m alert_courier_local

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/common/alert_courier local/alert_courier_local
	$(BIN)/mypy functions/ingest/app.py
	$(BIN)/mypy functions/dispatch/app.py
	$(BIN)/mypy functions/scheduler/app.py

# No SAM CLI and no Alertmanager needed: the tests that use them are marked slow.
unit: venv
	$(BIN)/pytest -q -m "not slow and not faults"

# The in-memory model-based test runs in a process of its own, so that it explores the same sequences whatever
# else ran: Hypothesis draws constants from the modules a process has imported, so after other tests the same
# derandomised test generates other sequences (that is how the defects of 2026-12-03 were found; see
# tests/unit/test_model_found_sequences.py).
test: venv venv-sam system-packages lint
	PATH="$(dir $(PYTHON)):$$PATH" $(BIN)/pytest -q --deselect tests/unit/test_end_state_model.py::TestEndStatesOnInMemoryPorts
	$(BIN)/pytest -q tests/unit/test_end_state_model.py

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

# Options through ARGS, e.g. `make bench ARGS="--quick --only coldstart"` (`make bench ARGS=--help` lists them).
bench: venv
	$(BIN)/python -m alert_courier_local.bench $(ARGS)

# The model-based end-state test at length: ≥ 10,000 random sequences on the in-memory ports; prints what the
# sequences covered (Hypothesis events: actions taken, faults recovered from, stale events recognised).
soak: venv
	END_STATE_PROFILE=soak $(BIN)/pytest -q -p no:cacheprovider -o timeout=7200 tests/unit/test_end_state_model.py \
		--hypothesis-show-statistics

clean:
	rm -rf $(VENV) $(VENV_SAM) .aws-sam .pytest_cache .mypy_cache .ruff_cache
