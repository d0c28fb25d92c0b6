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

.PHONY: help install run up down infra-up infra-down infra-status test lint format clean bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

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

$(FERRETDB): deploy/local/ferretdb/build.sh
	deploy/local/ferretdb/build.sh $(CURDIR)/$(FERRETDB)

install: .venv/.synced $(KAFKA_LIBS)/.installed $(FERRETDB) ## Install Python packages, Kafka jars and FerretDB

infra-up: install ## Start only Kafka (127.0.0.1:9092) and FerretDB (127.0.0.1:27017)
	$(PY) -m deploy.local.infra up --infra-only

infra-down: down ## Stop what infra-up (or up) started

infra-status: ## Tell whether the local servers and services answer
	$(PY) -m deploy.local.infra status

up: install ## Start the whole system in the background; returns once every part answers
	$(PY) -m deploy.local.infra up

down: ## Stop what `make up` started, services first
	@if [ -x $(PY) ]; then $(PY) -m deploy.local.infra down; fi

run: up ## Start the system and keep it up until Ctrl-C
	@echo "System up. Logs in .local/logs/. Ctrl-C stops it."
	@trap '$(MAKE) --no-print-directory down' INT TERM; while true; do sleep 3600; done

test: install ## Run the whole test suite against real Kafka and FerretDB
	$(PY) -m pytest

lint: .venv/.synced ## ruff (lint + format check) and mypy
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy shared services deploy bench tests

format: .venv/.synced ## Apply ruff's fixes and formatting
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

clean: down ## Remove server state and logs (installs are kept)
	rm -rf .local/state .local/logs .local/run

bench: install ## Benchmarks on the real broker and server; JSON results in bench-results/
	$(PY) -m bench.scheduler
