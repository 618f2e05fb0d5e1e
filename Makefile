# One entry point for people and CI. `make demo` and `make test` are README commands one and two.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv/bin

.PHONY: setup demo demo-vulnerable test lint docs
setup:
	bash tools/setup.sh

demo: setup
	$(VENV)/python -m tools.demo $(DEMO_ARGS)

demo-vulnerable: setup
	$(VENV)/python -m tools.demo --vulnerable $(DEMO_ARGS)

# Every test, in two stages on parallel workers (pytest-xdist): the fast tests first, then the
# slow end-to-end ones (marker `slow`: the demo, act, gitlab-ci-local, image builds). Most of a
# test's time is spent waiting on Docker, Trivy or moto, so more workers than cores pays.
# --dist loadgroup with the groups of tests/support/xdist_groups.py: a fast test stays with its
# file (as loadfile did), a slow one with the tests it shares a module fixture with (an image, a
# pipeline run is built once), so independent act runs and pipelines run on different workers;
# the longest start first (--no-loadscope-reorder keeps that order). --durations shows where the
# time went. PYTEST_ARGS goes to both stages; a stage that selects no test (pytest's exit 5) is
# not a failure.
# Bytecode is cached for the tests (this host sets PYTHONDONTWRITEBYTECODE=1): without it every
# worker of both stages re-rewrites the asserts of every test module it collects (pytest caches
# the rewrite only as .pyc), about 4.5 s of CPU per worker, and every `python -m scangate` the
# tests start recompiles the package. __pycache__ is git-ignored and never packaged.
TEST_WORKERS ?= 4
PYTEST_STAGE = env -u PYTHONDONTWRITEBYTECODE $(VENV)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder \
	--durations=15
test: setup
	$(PYTEST_STAGE) -m "not slow" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(PYTEST_STAGE) -m slow $(PYTEST_ARGS) || [ $$? -eq 5 ]

lint: setup
	bash tools/lint.sh

docs: setup
	$(VENV)/python -m tools.gendocs --write
