# ecr-privacy-operator — developer entry points. `make help` lists them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: help venv controlplane test test-unit test-fast lint fmt cluster emulator run clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

$(PY):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip

venv: $(PY) ## create .venv and install the project with its test extra
	$(VENV)/bin/pip install --quiet -e '.[test]'

controlplane: ## build (or find in the cache) kube-apiserver, kubectl and etcd from Go modules
	$(PY) tests/controlplane/build.py

test: controlplane ## the whole suite: unit, contract (emulator over HTTP) and cluster/e2e tests
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: ## pure unit tests only (no processes)
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

test-fast: ## everything that needs no Kubernetes control plane
	$(PY) -m pytest -m "not cluster" $(PYTEST_ARGS)

lint: ## ruff, ruff format check, mypy --strict and the import layering contracts
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

fmt: ## format the code
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

cluster: controlplane ## start a local control plane and print its admin kubeconfig path (Ctrl-C stops it)
	$(PY) -m tests.controlplane

emulator: ## run the Guardrails emulator on http://127.0.0.1:8080
	$(VENV)/bin/guardrails-emulator --port 8080

clean: ## remove caches of this checkout (not the control-plane binaries)
	rm -rf .mypy_cache .ruff_cache .pytest_cache
