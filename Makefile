# SCRM — run `make help` for the targets.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
export UV_PROJECT_ENVIRONMENT := $(VENV)
# The platform's certificate store, so a corporate or egress CA installed there is trusted.
export UV_SYSTEM_CERTS := 1
PYTEST_ARGS ?=
# Debian's chromium, which the browser tests drive through Playwright (never its own downloads).
CHROMIUM := /usr/bin/chromium

.DEFAULT_GOAL := help

help: ## List the targets
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-13s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

venv: $(VENV)/.synced ## Create the virtual environment from uv.lock

run: venv ## Run the whole system on the embedded broker and PostgreSQL (Ctrl-C stops it)
	$(PY) -m stack.run

smoke: venv ## Check a running `make run` end to end with signed webhooks
	$(PY) -m stack.smoke

chromium: ## Install Debian's chromium for the browser tests (as root; else they are skipped)
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	else \
		echo "no $(CHROMIUM) and not root: the browser tests will be skipped"; \
	fi

test: venv chromium ## Run the tests on the embedded broker and PostgreSQL (the browser's too)
	$(PY) -m pytest $(PYTEST_ARGS)

kafka-up: venv ## Start Apache Kafka (KRaft, from Maven Central) and print its bootstrap address
	$(PY) -m stack.apache_kafka up

kafka-down: ## Stop the Apache Kafka started by kafka-up
	$(PYTHON) -m stack.apache_kafka down

test-kafka: venv ## Run the integration and end-to-end tests against Apache Kafka
	@set -euo pipefail; \
	bootstrap=$$($(PY) -m stack.apache_kafka up | sed -n 's/^KAFKA_BOOTSTRAP_SERVERS=//p'); \
	trap '$(PY) -m stack.apache_kafka down' EXIT; \
	echo "broker: $$($(PY) -m stack.apache_kafka version) at $$bootstrap"; \
	KAFKA_BOOTSTRAP_SERVERS=$$bootstrap SCRM_TEST_KAFKA_IDEMPOTENCE=true SCRM_TEST_SESSION_TIMEOUT_MS=2000 \
		$(PY) -m pytest -m "integration or e2e" $(PYTEST_ARGS)

bench: bench-ingest bench-scoring bench-sla bench-routing bench-coupons ## Run every benchmark (figures and ratios against an in-run baseline)

bench-ingest: venv ## Ingest webhook throughput/latency on Apache Kafka vs a bare FastAPI endpoint
	$(PY) -m bench.ingest $(BENCH_ARGS)

bench-scoring: venv ## Scoring throughput/lag/memory on Apache Kafka vs a minimal idempotent consumer
	$(PY) -m bench.scoring $(BENCH_ARGS)

bench-sla: venv ## Responder's breach lag with 100k open conversations, and a restart, vs a bare timer loop
	$(PY) -m bench.sla $(BENCH_ARGS)

bench-routing: venv ## Responder's claim latency for 50 agents vs a bare one-query endpoint; webhook -> queue lag
	$(PY) -m bench.routing $(BENCH_ARGS)

bench-coupons: venv ## Claims of red-packet shares on Apache Kafka vs a bare one-insert endpoint; a hot packet
	$(PY) -m bench.coupons $(BENCH_ARGS)

lint: venv ## ruff (lint + format check) and mypy --strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

fmt: venv ## Format and autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

schemas: venv ## Export the JSON Schema of every event contract to shared/schemas/
	$(PY) -m shared.schema_export shared/schemas

clean: ## Remove the environments, caches and the embedded data folder
	rm -rf $(VENV) $(TOOLS) .cache data .pytest_cache .mypy_cache .ruff_cache

.PHONY: help venv chromium run smoke test kafka-up kafka-down test-kafka bench bench-ingest bench-scoring bench-sla bench-routing bench-coupons lint fmt schemas clean
