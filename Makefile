# Charter booking pipeline: one obvious way to run each thing. `make` (or `make help`) lists the targets.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
# The locks are resolved for exactly this interpreter (AIRFLOW-NOTES: "3.11" alone means 3.11.0 to uv).
LOCK_PYTHON := 3.11.7
STAMP := $(VENV)/.installed
# Folders that exist in this checkout; empty ones are not in a fresh clone.
CODE_DIRS := $(wildcard bin dags plugins sandbox tests benchmarks)
TYPED := plugins/charter_pipeline $(wildcard plugins/*.py) $(wildcard dags/*.py)
# Extra arguments for pytest, e.g. `make test PYTEST_ARGS="-k dags -x"`; for `make lock`, e.g. LOCK_ARGS=--upgrade.
PYTEST_ARGS ?=
# `make test` runs pytest on this many pytest-xdist workers (tests/conftest.py says how it groups the suite);
# PYTEST_WORKERS=0 runs it in one process, as `pytest` alone does.
PYTEST_WORKERS ?= 2
LOCK_ARGS ?=
ARGS ?=
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: help install lock system-deps lint format typecheck test run run-celery demo bench bootstrap trigger webhook doctor clean distclean

help: ## list the targets (the default)
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(STAMP) ## build .venv/ from the locks (quick when nothing changed)

$(STAMP): requirements.txt requirements-dev.txt
	@if [ ! -x $(PY) ]; then \
	  if command -v python3.11 >/dev/null 2>&1; then base=python3.11; \
	  elif python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then base=python3; \
	  else echo "make install: needs Python 3.11 (python3.11, or python3 being 3.11)" >&2; exit 1; fi; \
	  echo "creating $(VENV) with $$($$base --version)"; \
	  $$base -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet "$$(grep -m1 '^uv==' requirements-dev.txt)"
	$(UV) pip sync --quiet --python $(PY) requirements-dev.txt
	@touch $@

lock: ## re-resolve requirements.txt and requirements-dev.txt with uv, then sync .venv/
	@test -x $(UV) || $(MAKE) install
	$(UV) pip compile --quiet --python-version $(LOCK_PYTHON) $(LOCK_ARGS) requirements.in -o requirements.txt
	$(UV) pip compile --quiet --python-version $(LOCK_PYTHON) $(LOCK_ARGS) requirements-dev.in -o requirements-dev.txt
	$(UV) pip sync --quiet --python $(PY) requirements-dev.txt
	@touch $(STAMP)

system-deps: ## install Debian's chromium (browser tests), nodejs, postgresql and redis-server (topology) if missing
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium fonts-liberation"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	test -x /usr/lib/postgresql/15/bin/postgres || missing="$$missing postgresql-15"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v ss >/dev/null 2>&1 || missing="$$missing iproute2"; \
	if [ -n "$$missing" ]; then \
	  echo "installing from Debian:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing </dev/null; \
	fi

lint: install ## ruff check (AIR rules on) and ruff format --check
	@status=0; \
	$(VENV)/bin/ruff check $(CODE_DIRS) || status=1; \
	$(VENV)/bin/ruff format --check $(CODE_DIRS) || status=1; \
	exit $$status

format: install ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix $(CODE_DIRS)
	$(VENV)/bin/ruff format $(CODE_DIRS)

typecheck: install ## mypy over plugins/charter_pipeline and dags
	$(VENV)/bin/mypy $(TYPED)

# Every step runs even when an earlier one fails, so one CI log shows all the damage; the exit code is still red.
test: install system-deps ## lint, typecheck, then the whole pytest suite (unit, dags, hooks, sandbox, e2e, browser, reliability)
	@failed=""; \
	$(MAKE) lint || failed="$$failed lint"; \
	$(MAKE) typecheck || failed="$$failed typecheck"; \
	$(PY) -m pytest tests -n $(PYTEST_WORKERS) $(PYTEST_ARGS) \
	  || failed="$$failed pytest"; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed" >&2; exit 1; fi; \
	echo "make test: lint, typecheck and pytest passed"

run: install ## the local stack: stand-ins, preview, inspector and Airflow (LocalExecutor on SQLite)
	$(PY) -m sandbox.run

run-celery: install system-deps ## the same local stack with the deployed executor: Celery workers, PostgreSQL, Redis
	$(PY) -m sandbox.run --executor celery

demo: install ## a scripted walk through the pipeline against the local stack
	$(PY) -m sandbox.demo

bench: install ## the benchmarks
	$(PY) -m benchmarks

bootstrap: install ## create the tables and buckets the pipeline expects (ARGS="..." passes options)
	$(PY) -m sandbox.bootstrap $(ARGS)

# BOOKING comes through the environment (make exports command-line variables), so no quote in it can break the shell.
trigger: ## one booking through Airflow's REST API: BOOKING='{"booking_id": ...}' or BOOKING=@file.json, or ARGS=--poll (ARGS=--wait waits); AIRFLOW_URL/AIRFLOW_TOKEN for a deployment
	@python3 bin/trigger_booking.py $${BOOKING:+"$$BOOKING"} $(ARGS)

# `make run`'s webhook and its sandbox secret by default; a deployment's function URL and secret through the environment.
CHARTER_WEBHOOK_URL ?= http://127.0.0.1:8084/
CHARTER_WEBHOOK_SECRET ?= sandbox-webhook-secret-3Hq8
webhook: ## one signed booking (or batch) to the booking webhook: BOOKING='{...}' or BOOKING=@file.json; CHARTER_WEBHOOK_URL/CHARTER_WEBHOOK_SECRET for a deployment
	@CHARTER_WEBHOOK_URL="$(CHARTER_WEBHOOK_URL)" CHARTER_WEBHOOK_SECRET="$(CHARTER_WEBHOOK_SECRET)" \
	  python3 bin/send_booking_webhook.py "$${BOOKING:?BOOKING='{...}' or BOOKING=@file.json}" $(ARGS)

# Connections and the Variable as Airflow gives them (AIRFLOW_CONN_* / AIRFLOW_VAR_CHARTER_PIPELINE, else AIRFLOW_HOME's
# DB); with none of that set, those of the running `make run` / `make run-celery` (sandbox/doctor.py).
doctor: install ## check every connection and resource the pipeline needs (one line each; exit 1 on any failure)
	$(PY) -m sandbox.doctor

clean: ## remove caches and the local stack's state (.sandbox/, .airflow/); keeps .venv/
	rm -rf .sandbox .airflow .pytest_cache .mypy_cache .ruff_cache .hypothesis test-artifacts build
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean ## clean, and remove .venv/ too
	rm -rf $(VENV)
