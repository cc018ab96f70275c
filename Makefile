# The platform's commands. `make run` and `make test` set up everything from nothing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000
export PORT

.PHONY: run test setup install bench soak fuzz lint web engine feeds status worker beat guardian clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

setup: install
	$(PY) manage.py migrate --noinput --verbosity 0
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py demo
	$(PY) manage.py setup_schedules

## One command: set up and run the whole platform (web + engine + simulator + schedules).
run: setup
	$(PY) manage.py run --port $(PORT)

## One command: set up and run every test.
test: install
	bash scripts/ensure-browser.sh
	$(PY) -m pytest --ignore=tests/e2e
	# The browser tests run in their own process: Playwright's sync API keeps an event loop
	# running in the main thread for as long as the browser lives.
	$(PY) -m pytest tests/e2e

bench: install
	$(PY) -m bench.run

## The million-frame parser fuzz, then 1,000 paper bots for 10 minutes under feed faults (not in CI).
fuzz: install
	$(PY) -m tests.fuzz --json bench/results/fuzz.json

soak: fuzz
	$(PY) -m bench.soak
	$(PY) -m bench.run soak

## ruff over everything; mypy over the pure core (the packages in pyproject.toml's [tool.mypy] files).
lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy

# --- Production processes (set DATABASE_URL, REDIS_URL, SECRET_KEY, FIELD_ENCRYPTION_KEY, PRODUCTION=1) ---
web: install
	$(VENV)/bin/daphne -b 0.0.0.0 -p $(PORT) botplatform.asgi:application
engine: install
	$(PY) manage.py runengine $(if $(REDIS_URL),--feeds redis,)
feeds: install
	$(PY) manage.py runfeeds
status: install
	$(PY) manage.py enginestatus
worker: install
	$(VENV)/bin/celery -A botplatform worker --loglevel=INFO
beat: install
	$(VENV)/bin/celery -A botplatform beat --loglevel=INFO
guardian: install
	$(VENV)/bin/celery -A botplatform worker -Q guardian --concurrency=1 --loglevel=INFO

clean:
	rm -rf $(VENV) data staticfiles .pytest_cache
