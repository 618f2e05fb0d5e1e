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

test: setup
	$(VENV)/python -m pytest $(PYTEST_ARGS)

lint: setup
	bash tools/lint.sh

docs: setup
	$(VENV)/python -m tools.gendocs --write
