# ecr-privacy-operator — developer entry points. `make help` lists them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: help venv controlplane helm test test-unit test-fast lint fmt cluster emulator run clean \
	chart-crds chart-lint demo bench image test-image kind-e2e reliability \
	lock lock-check controlplane-oldest test-k8s-oldest chart-package

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

$(PY):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip

venv: $(PY) ## create .venv and install the project with its test, emulator and dev extras
	$(VENV)/bin/pip install --quiet -e '.[test,emulator,dev]'

lock: ## rewrite requirements.lock (the image's dependencies, with hashes) from pyproject.toml
	hack/lock.sh $(LOCK_ARGS)

lock-check: ## fail when requirements.lock is stale against pyproject.toml
	hack/lock.sh --check

controlplane: ## build (or find in the cache) kube-apiserver, kubectl and etcd from Go modules
	$(PY) tests/controlplane/build.py --controller-manager

# The oldest supported Kubernetes version (tests/controlplane/build.py says why this one).
OLDEST_K8S := $(shell sed -n 's/^OLDEST_KUBERNETES_VERSION = "\(.*\)"$$/\1/p' tests/controlplane/build.py)

controlplane-oldest: ## build (or find in the cache) the oldest supported kube-apiserver, kubectl and etcd
	ECR_TEST_KUBERNETES_VERSION=$(OLDEST_K8S) $(PY) tests/controlplane/build.py

test-k8s-oldest: controlplane-oldest helm ## on the oldest supported Kubernetes: every CRD, the CEL tests, one lifecycle e2e, the chart
	ECR_TEST_KUBERNETES_VERSION=$(OLDEST_K8S) $(PY) -m pytest $(PYTEST_ARGS) tests/cluster/test_controlplane.py \
	  tests/cluster/test_crd.py tests/cluster/test_workspace_crd.py tests/e2e/test_lifecycle.py::test_apply_enforce_and_compliance \
	  tests/e2e/test_deletion.py::test_delete_removes_attachments_and_pack_orphan_leaves_them \
	  tests/chart/test_chart_package.py tests/chart/test_chart_cluster.py

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

chart-crds: ## regenerate derived files: the chart's CRD copy and values table, the Argo CD patch, README.md's GitOps table
	$(PY) hack/chart.py

chart-lint: helm ## helm lint --strict and helm template of the chart (defaults and ci/all-values.yaml)
	@helm=$$($(PY) tests/controlplane/build.py --print-helm) && chart=deploy/helm/ecr-privacy-operator && \
	for values in "" "--values $$chart/ci/all-values.yaml"; do \
	  $$helm lint --strict $$chart --kube-version 1.36.3 $$values && \
	  $$helm template ecr-privacy-operator $$chart --kube-version 1.36.3 $$values >/dev/null || exit 1; \
	done

chart-package: helm ## helm package the chart into dist/ecr-privacy-operator-<version>.tgz
	@helm=$$($(PY) tests/controlplane/build.py --print-helm) && mkdir -p dist && \
	$$helm package deploy/helm/ecr-privacy-operator --destination dist

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
