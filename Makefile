# Everything runs in .venv, created on first use; `make test` on a fresh clone needs only python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test test-fast deps demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the package's metadata changes.
$(STAMP): setup.py pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Tests run on pytest-xdist workers: 4 for test-fast (the fastest on 2 cores: much of the suite
# waits on subprocesses and sockets), 6 for test (one waits on the Python-version suites the whole
# time). --dist loadgroup keeps each xdist_group on one worker: the two Python-version suites
# share one fixture.
TEST_WORKERS ?= 4
ALL_TEST_WORKERS ?= 6
# pytest may write its rewritten test modules even where PYTHONDONTWRITEBYTECODE is set (as on
# the project's machines): otherwise each of the workers rewrites all of them on every run.
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -q --dist loadgroup
# The tests start the tap a few hundred times: compiled once here, its modules are not compiled
# again by each run when PYTHONDONTWRITEBYTECODE is set.
COMPILE := $(BIN)/python -m compileall -q tap_helpscout tests

# Every test: unit, integration, the emulator's own, e2e.
test: deps $(STAMP)
	$(COMPILE)
	$(PYTEST) -n $(ALL_TEST_WORKERS)

# System packages the tests need and cannot pip-install: the PostgreSQL server binaries
# (tests/e2e start a throwaway server), jq (the README's sync recipe uses it, and
# tests/e2e/test_state_recipe.py runs that recipe), and libfaketime (tests/integration/test_clock.py
# puts the tap's clock hours off the server's). Debian's postgresql package puts initdb in
# /usr/lib/postgresql/<version>/bin, off PATH; the tests look there too.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
deps:
	@missing=""; \
	if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; else missing=" postgresql"; fi; \
	command -v jq >/dev/null 2>&1 || missing="$$missing jq"; \
	ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || missing="$$missing faketime"; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing (apt-get install)"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

test-fast: $(STAMP)
	$(COMPILE)
	$(PYTEST) -n $(TEST_WORKERS) -m "not e2e"

demo: $(STAMP)
	$(BIN)/python -m tests.demo

bench: $(STAMP)
	$(BIN)/python -m tests.bench

# Leaves .venv alone (rm -rf .venv for a from-scratch install).
clean:
	rm -rf build dist *.egg-info .pytest_cache demo-output .bench
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
