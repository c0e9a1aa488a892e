# Two commands: `make run` serves the demo site, `make test` runs the whole suite.
# Arguments pass through: make run ARGS="--port 8001", make test PYTEST_ARGS="-x tests/test_cli.py".
# The suite runs in TEST_PROCESSES pytest processes, a test file at a time each (make test TEST_PROCESSES=0: one).
TEST_PROCESSES ?= 2
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $(STAMP)

.PHONY: install run test
install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/dailypapers serve $(ARGS)

test: $(STAMP)
	$(VENV)/bin/pytest -n $(TEST_PROCESSES) --dist loadfile $(PYTEST_ARGS)
