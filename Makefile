# Quill — the two commands for a fresh machine:
#   make run    embedded default (SQLite, local files, no services) with demo data
#   make test   lint (ruff, mypy), then the whole suite on PostgreSQL with real Redis, SeaweedFS, clamd and Chromium
#   make lock   regenerate requirements/*.lock after editing requirements/*.txt

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/quill
TEST_REDIS_DB ?= 15
PYTEST_ARGS ?=
# make lock UPGRADE=django          moves one package (and what it needs) to its newest allowed version
# make lock UPGRADE="django celery" several; plain `make lock` changes only what the .txt files changed
UPGRADE ?=
PIP_TOOLS_VERSION := 7.7.0
# Locks are compiled against pip's default index alone (PyPI), whatever this machine's pip config adds
# (mirrors, find-links), so that the hashes in them are PyPI's and install anywhere.
PIP_COMPILE := env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null \
	CUSTOM_COMPILE_COMMAND="make lock" $(PY) -m piptools compile --quiet --generate-hashes --allow-unsafe \
	--strip-extras --no-emit-index-url \
	$(foreach package,$(UPGRADE),--upgrade-package $(package))

.PHONY: run test lint format bench venv deps dev-deps lock serve migrate seed clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Installs come only from the hashed locks; the stamps are redone when a lock changes.
$(VENV)/.base-installed: requirements/base.lock | $(PY)
	$(PIP) install --quiet --disable-pip-version-check --require-hashes -r requirements/base.lock
	touch $@

$(VENV)/.dev-installed: requirements/dev.lock | $(PY)
	$(PIP) install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.lock
	touch $@ $(VENV)/.base-installed

deps: $(VENV)/.base-installed
dev-deps: $(VENV)/.dev-installed

run: deps
	env -u DATABASE_URL $(PY) manage.py migrate --noinput
	env -u DATABASE_URL $(PY) manage.py seed_demo
	env -u DATABASE_URL DJANGO_DEBUG=true $(PY) manage.py runserver 127.0.0.1:8000

test: lint
	bash scripts/install-test-deps.sh
	DATABASE_URL=$(TEST_DATABASE_URL) QUILL_ENV=development QUILL_TEST_REDIS_DB=$(TEST_REDIS_DB) \
	QUILL_REDIS_URL=redis://127.0.0.1:6379/$(TEST_REDIS_DB) $(PY) -m pytest $(PYTEST_ARGS)

# make test runs this first, so CI enforces the linter, the formatter and the type checker.
lint: dev-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	env -u DATABASE_URL $(VENV)/bin/mypy

format: dev-deps
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# dev.lock is compiled with base.lock as constraints, so both pin every shared package alike.
lock: | $(PY)
	$(PIP) install --quiet --disable-pip-version-check pip-tools==$(PIP_TOOLS_VERSION)
	$(PIP_COMPILE) --output-file requirements/base.lock requirements/base.txt
	$(PIP_COMPILE) --constraint requirements/base.lock --output-file requirements/dev.lock requirements/dev.txt

bench: dev-deps
	bash scripts/install-test-deps.sh
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) bench/storage.py

clean:
	rm -rf var artifacts
