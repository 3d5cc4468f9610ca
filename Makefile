# Commerce Coordinator: the commands a developer and CI need.
#   make run    set everything up and serve http://localhost:8140 (SQLite, the embedded broker and its worker)
#   make test   set everything up and run the whole suite on SQLite and on MariaDB, with coverage
# `make help` lists every target.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON3 ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# Settings of run, migrate, provision, celery and quality (not of the tests): `make migrate SETTINGS=...`.
SETTINGS ?= commerce_coordinator.settings.local
MANAGE := DJANGO_SETTINGS_MODULE=$(SETTINGS) $(PY) manage.py
TEST_SETTINGS := commerce_coordinator.settings.test
PORT ?= 8140
# Databases of the MariaDB test pass: distinct from the development ones (commerce_coordinator*);
# Django prefixes them with test_.
TEST_MYSQL_DB ?= commerce_coordinator_ci
TEST_MYSQL_TRACES_DB ?= commerce_coordinator_ci_traces
PIP_COMPILE := $(VENV)/bin/pip-compile --strip-extras --no-emit-index-url --no-emit-find-links --quiet
INSTALLED := $(VENV)/.installed

.PHONY: help requirements upgrade install venv system-deps run migrate provision celery test test-sqlite \
	test-mysql coverage quality screenshots clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# --- environment --------------------------------------------------------------------

system-deps: ## apt-get install what mysqlclient needs to build, when missing (as root)
	@if pkg-config --exists mysqlclient 2>/dev/null || pkg-config --exists mariadb 2>/dev/null; then \
		exit 0; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing default-libmysqlclient-dev and pkg-config (needed to build mysqlclient)"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-libmysqlclient-dev pkg-config >/dev/null; \
	else \
		echo "mysqlclient needs the MySQL client headers and pkg-config:" >&2; \
		echo "  sudo apt-get install default-libmysqlclient-dev pkg-config" >&2; \
		exit 1; \
	fi

$(INSTALLED): requirements/test.txt requirements/base.txt
	@$(MAKE) --no-print-directory system-deps
	test -x $(PY) || $(PYTHON3) -m venv $(VENV)
	$(PIP) install --quiet -r requirements/test.txt
	touch $(INSTALLED)

install: $(INSTALLED) ## create .venv and install the pinned requirements (only when they changed)
venv: install ## same as install

requirements: $(INSTALLED) ## re-pin requirements/*.txt from requirements/*.in (keeps current pins)
	cd requirements && ../$(PIP_COMPILE) --output-file=base.txt base.in
	cd requirements && ../$(PIP_COMPILE) --output-file=test.txt test.in

upgrade: $(INSTALLED) ## re-pin every requirement to its newest allowed version, then install
	cd requirements && ../$(PIP_COMPILE) --upgrade --output-file=base.txt base.in
	cd requirements && ../$(PIP_COMPILE) --upgrade --output-file=test.txt test.in
	$(PIP) install --quiet -r requirements/test.txt
	touch $(INSTALLED)

# --- running -----------------------------------------------------------------------

migrate: install ## migrate every database alias (default and traces): a plain `manage.py migrate`
	$(MANAGE) migrate --noinput

provision: install ## idempotent local set-up: databases, migrations, admin/admin, waffle switches, demo data
	PYTHON=$(PY) DJANGO_SETTINGS_MODULE=$(SETTINGS) ./local-provision-commerce-coordinator.sh

run: install migrate provision ## set up and serve on 0.0.0.0:8140 (PORT=...) with its own Celery worker (ADR 22)
	$(MANAGE) runserver 0.0.0.0:$(PORT)

celery: install ## development Celery worker that restarts on .py changes (runserver starts one itself)
	@if [ -z "$${CELERY_BROKER_URL:-}" ]; then \
		echo "CELERY_BROKER_URL is not set: this worker takes tasks from the embedded broker (var/celery/)," >&2; \
		echo "as the one runserver starts does (ADR 22). For Redis: CELERY_BROKER_URL=redis://127.0.0.1:6379/0 make celery" >&2; \
	fi
	$(MANAGE) celery

# --- checks ------------------------------------------------------------------------

test: install ## the whole suite: SQLite, then MariaDB (DB_ENGINE=mysql), coverage, core >= 95%
	rm -f .coverage .coverage.*
	@$(MAKE) --no-print-directory test-sqlite
	@$(MAKE) --no-print-directory test-mysql COV_APPEND=--cov-append
	@$(MAKE) --no-print-directory coverage

test-sqlite: install ## the suite on SQLite (tests marked mysql_only deselected)
	DB_ENGINE=sqlite $(VENV)/bin/pytest --ds=$(TEST_SETTINGS) -m "not mysql_only" \
		--cov=commerce_coordinator --cov-report= $(COV_APPEND) $(PYTEST_ARGS)

test-mysql: install ## the suite on the local MariaDB (test databases distinct from development)
	DB_ENGINE=mysql DB_NAME=$(TEST_MYSQL_DB) TRACES_DB_NAME=$(TEST_MYSQL_TRACES_DB) \
		$(VENV)/bin/pytest --ds=$(TEST_SETTINGS) --cov=commerce_coordinator --cov-report= $(COV_APPEND) $(PYTEST_ARGS)

coverage: install ## report coverage of the last test run; fail if the core is under 95% of lines
	$(VENV)/bin/coverage report
	$(VENV)/bin/coverage report --include='commerce_coordinator/apps/core/*' --fail-under=95

quality: install ## ruff (lint + format), import-linter contracts, manage.py check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(MANAGE) check

screenshots: install ## save a PNG of each console page to docs/screenshots/ (Chromium, demo data, live server)
	CC_SCREENSHOTS_DIR=docs/screenshots DB_ENGINE=sqlite $(VENV)/bin/pytest --ds=$(TEST_SETTINGS) -q -p no:cov \
		commerce_coordinator/apps/console/tests/screenshots.py

clean: ## remove caches and coverage data (keeps .venv and var/)
	rm -rf .coverage .coverage.* htmlcov .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
