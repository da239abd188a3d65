# The one entry point. `make run` and `make test` are all a newcomer needs.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
GOVUK_DIST := node_modules/govuk-frontend/dist/govuk
GOVUK_STATIC := onedoor/govuk/static

.PHONY: help install assets kafka-jars lint format typecheck test test-unit test-integration test-e2e test-browser run bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip wheel setuptools
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(STAMP) assets ## Create .venv and install OneDoor with its dev tools (idempotent)

# npm ci only when package.json or the lock file changed since node_modules was made.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

$(GOVUK_STATIC)/.copied: node_modules/.package-lock.json onedoor/govuk/brand.css
	rm -rf $(GOVUK_STATIC)
	mkdir -p $(GOVUK_STATIC)
	cp $(GOVUK_DIST)/govuk-frontend.min.css $(GOVUK_DIST)/govuk-frontend.min.js $(GOVUK_STATIC)/
	cp -R $(GOVUK_DIST)/assets/. $(GOVUK_STATIC)/
	cp onedoor/govuk/brand.css $(GOVUK_STATIC)/onedoor-brand.css
	touch $@

assets: $(GOVUK_STATIC)/.copied ## GOV.UK Frontend (pinned in package-lock.json) into onedoor/govuk/static, axe-core for page tests

kafka-jars: $(STAMP) assets ## Resolve the Apache Kafka broker jars from Maven Central into the cache
	$(BIN)/onedoor kafka fetch

lint: $(STAMP) ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Apply ruff formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP) ## mypy --strict over every package
	$(BIN)/mypy

# pytest exits 5 when it collected nothing: that is a failure here, never a pass.
define run_pytest
	$(BIN)/pytest $(1) $(PYTEST_ARGS) || { rc=$$?; [ $$rc -eq 5 ] && echo "pytest collected no tests: failing" >&2; exit $$rc; }
endef

test: lint typecheck kafka-jars ## Everything: lint, types, unit, integration (real Kafka, SQLite, PostgreSQL), e2e and browser (Chromium)
	$(call run_pytest,tests)

test-unit: $(STAMP) ## Unit tests only (no broker, no database server)
	$(call run_pytest,tests/unit)

test-integration: kafka-jars ## Integration tests against a real broker and databases
	$(call run_pytest,tests/integration)

test-e2e: kafka-jars ## End-to-end tests of the running system
	$(call run_pytest,tests/e2e)

test-browser: kafka-jars ## Page tests in real headless Chromium (/usr/bin/chromium) through Playwright
	$(call run_pytest,tests/browser)

run: kafka-jars ## Demo: broker, hub, agencies, one referral; then serve the One Front Door until Ctrl-C (onedoor demo --no-serve: exit)
	$(BIN)/onedoor demo

bench: kafka-jars ## Measure router, consent, status-check, referral, alert, connector outbox, audit chain and console dashboard figures into bench/results/latest.json
	$(BIN)/python -m bench

clean: ## Remove local state (broker data, SQLite files); keeps the venv and jar cache
	-$(BIN)/onedoor kafka down
	rm -rf .onedoor tests/artifacts
