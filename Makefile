# ecr-privacy-operator — developer entry points. `make help` lists them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: help venv controlplane helm test test-unit test-fast lint fmt cluster emulator run clean \
	chart-crds chart-lint demo bench image test-image kind-e2e reliability

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

$(PY):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip

venv: $(PY) ## create .venv and install the project with its test extra
	$(VENV)/bin/pip install --quiet -e '.[test]'

controlplane: ## build (or find in the cache) kube-apiserver, kubectl and etcd from Go modules
	$(PY) tests/controlplane/build.py --controller-manager

helm: ## build (or find in the cache) helm from Go modules; prints its path
	$(PY) tests/controlplane/build.py --print-helm

test: controlplane helm image ## the whole suite: unit, contract, chart, cluster, e2e and image tests
	$(PY) -m pytest $(PYTEST_ARGS)

reliability: controlplane ## faults, crashes, races, restarts, bad input at full size (~15 min); prints the figures
	RELIABILITY_SCALE=full $(PY) -m pytest -m reliability -p no:cacheprovider $(PYTEST_ARGS)

test-unit: ## pure unit tests only (no processes)
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

test-fast: helm ## everything that needs no Kubernetes control plane
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

chart-crds: ## regenerate the chart's derived files: its CRD copy, its README values table, the Argo CD patch
	$(PY) hack/chart.py

chart-lint: helm ## helm lint --strict and helm template of the chart (defaults and ci/all-values.yaml)
	@helm=$$($(PY) tests/controlplane/build.py --print-helm) && chart=deploy/helm/ecr-privacy-operator && \
	for values in "" "--values $$chart/ci/all-values.yaml"; do \
	  $$helm lint --strict $$chart --kube-version 1.36.3 $$values && \
	  $$helm template ecr-privacy-operator $$chart --kube-version 1.36.3 $$values >/dev/null || exit 1; \
	done

demo: controlplane ## local control plane + emulator + operator: a policy becomes Ready, Enforce deletes a new public repository
	$(PY) hack/demo.py

bench: controlplane ## benchmark (not part of test): N=1..1000 objects to Ready, requests, writes, CPU, RSS, drift
	$(PY) hack/bench.py $(BENCH_ARGS)

IMAGE ?= ecr-privacy-operator:dev
image: ## build the operator image with podman, no Docker engine (first time: makes a local Debian base, ~1 min)
	IMAGE=$(IMAGE) hack/image.sh

test-image: controlplane image ## run the operator from the image's own files (read-only, non-root) to Ready
	IMAGE=$(IMAGE) $(PY) -m pytest -m image $(PYTEST_ARGS)

kind-e2e: ## with Docker: kind cluster, image loaded, chart installed, emulator in the cluster, sample Ready
	hack/kind-e2e.sh

clean: ## remove caches of this checkout (not the control-plane binaries)
	rm -rf .mypy_cache .ruff_cache .pytest_cache
