# Quill — the two commands for a fresh machine:
#   make run    embedded default (SQLite, local files, no services) with demo data
#   make test   the whole suite on PostgreSQL with real Redis, SeaweedFS, clamd and Chromium

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/quill
TEST_REDIS_DB ?= 15
PYTEST_ARGS ?=

.PHONY: run test lint format bench venv deps dev-deps serve migrate seed clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.base-installed: requirements/base.txt | $(PY)
	$(PIP) install --quiet --disable-pip-version-check -r requirements/base.txt
	touch $@

$(VENV)/.dev-installed: requirements/base.txt requirements/dev.txt | $(PY)
	$(PIP) install --quiet --disable-pip-version-check -r requirements/dev.txt
	touch $@ $(VENV)/.base-installed

deps: $(VENV)/.base-installed
dev-deps: $(VENV)/.dev-installed

run: deps
	env -u DATABASE_URL $(PY) manage.py migrate --noinput
	env -u DATABASE_URL $(PY) manage.py seed_demo
	env -u DATABASE_URL DJANGO_DEBUG=true $(PY) manage.py runserver 127.0.0.1:8000

test: dev-deps
	bash scripts/install-test-deps.sh
	DATABASE_URL=$(TEST_DATABASE_URL) QUILL_ENV=development QUILL_TEST_REDIS_DB=$(TEST_REDIS_DB) \
	QUILL_REDIS_URL=redis://127.0.0.1:6379/$(TEST_REDIS_DB) $(PY) -m pytest $(PYTEST_ARGS)

lint: dev-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: dev-deps
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: dev-deps
	bash scripts/install-test-deps.sh
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) bench/storage.py

clean:
	rm -rf var artifacts
