# feegate: `make run` starts the whole service on SQLite; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
export FEEGATE_BASE_URL ?= http://$(HOST):$(PORT)

CELERY_WORKER := $(BIN)/celery -A payments.worker worker --pool threads --concurrency 4 --loglevel INFO

.PHONY: install run worker test lint typecheck check bench-api bench-webhooks translations clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The Celery worker (with the beat scheduler embedded) runs beside the web server and stops with it.
run: install
	@# gunicorn's workers bind with SO_REUSEPORT, so a second server would share the port, not fail.
	@$(BIN)/python -c "import socket, sys; sys.exit('$(HOST):$(PORT) is already in use: stop the other server first (or PORT=...)') if socket.socket().connect_ex(('$(HOST)', $(PORT))) == 0 else None"
	$(FLASK) db upgrade
	$(FLASK) seed-demo --base-url $(FEEGATE_BASE_URL) > instance/demo.txt
	@echo
	@echo "  feegate is starting on $(FEEGATE_BASE_URL)"
	@echo "  API docs:          $(FEEGATE_BASE_URL)/api/v1/docs"
	@echo "  Demo payment link: $$(sed -n 's/^Demo payment link: //p' instance/demo.txt)"
	@echo "  Demo API key:      $$(tail -n 1 instance/demo.txt)"
	@echo "  Background worker and scheduler: Celery on the embedded broker in instance/broker.sqlite3"
	@echo
	$(CELERY_WORKER) --beat & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/gunicorn --config gunicorn.conf.py --bind $(HOST):$(PORT) --access-logfile - wsgi:app

# A worker alone (for a Redis/RabbitMQ deployment set FEEGATE_CELERY_BROKER_URL; run one `beat` in all).
worker: install
	$(CELERY_WORKER)

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy payments providers webhooks reconciliation

check: lint typecheck test

bench-api: install
	$(BIN)/python bench/api.py

bench-webhooks: install
	$(BIN)/python bench/webhooks.py

translations: install
	$(BIN)/pybabel extract -F babel.cfg -o payments/translations/messages.pot .
	$(BIN)/pybabel update -i payments/translations/messages.pot -d payments/translations
	$(BIN)/pybabel compile -d payments/translations

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
