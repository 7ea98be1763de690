# Palate: `make demo` runs the app on embedded defaults; `make test` runs lint and the suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel here; a GPU host overrides it, e.g. `make install TORCH_SPEC=torch`.
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= web,ml,dev
HOST ?= 127.0.0.1
PORT ?= 8000
CHROMIUM ?= /usr/bin/chromium

# The test suite runs against the production kind of parts.
TEST_DATABASE_URL := $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/palate)
TEST_BROKER_URL := $(or $(CELERY_BROKER_URL),redis://127.0.0.1:6379/0)
TEST_CACHE_URL := $(or $(CACHE_URL),redis://127.0.0.1:6379/1)
TEST_ENV := DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
	CACHE_URL=$(TEST_CACHE_URL) HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

.PHONY: help install browser check services test demo worker bench clean

help:
	@echo "make demo     install, load the demo projects, run web + workers on http://$(HOST):$(PORT)"
	@echo "make test     install, lint, and run the whole suite on Postgres and Redis"
	@echo "make install  create $(VENV) with torch ($(TORCH_SPEC)) and the [$(EXTRAS)] extras"
	@echo "make check    ruff, ruff format --check, makemigrations --check"
	@echo "make bench    run the benchmarks in tests/benchmarks (prints numbers)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	@touch $@

install: $(VENV)/.installed

# Browser tests drive Debian's Chromium (Playwright cannot download browsers here).
browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "Installing Chromium for the browser tests…"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "Chromium is missing: run 'sudo apt-get install chromium' (or set CHROMIUM=/path)."; exit 1; \
		fi; \
	fi

check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DATABASE_URL= $(BIN)/python manage.py makemigrations --check --dry-run

services: install
	@$(TEST_ENV) $(BIN)/python manage.py check_services

test: install browser check services
	$(TEST_ENV) CHROMIUM=$(CHROMIUM) $(BIN)/pytest $(PYTEST_ARGS)

demo: install
	@mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo
	$(BIN)/python manage.py runlocal --host $(HOST) --port $(PORT)

worker: install
	$(BIN)/celery -A config worker --loglevel=INFO

bench: install services
	$(TEST_ENV) $(BIN)/python tests/benchmarks/bench_import.py
	$(TEST_ENV) $(BIN)/python tests/benchmarks/bench_annotation.py
	$(TEST_ENV) $(BIN)/python tests/benchmarks/bench_scoring.py
	$(TEST_ENV) $(BIN)/python tests/benchmarks/bench_export.py
	$(TEST_ENV) $(BIN)/python tests/benchmarks/bench_composer.py
	$(TEST_ENV) $(BIN)/python tests/benchmarks/bench_quality.py

clean:
	rm -rf var/broker var/cache
