# xnatlite: `make run` sets everything up and runs the server; `make test` sets everything up and
# runs the tests. Both need only Python 3.11+ and make. Variables from the environment (DATABASE_URL,
# CELERY_BROKER_URL, XNATLITE_*) pass through; see README.md.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export SECRET_KEY_FILE ?= $(CURDIR)/var/secret_key

.PHONY: run test install lint typecheck bench worker receiver clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

var/secret_key:
	mkdir -p var
	$(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))' > var/secret_key
	chmod 600 var/secret_key

install: $(STAMP) var/secret_key

run: install
	$(BIN)/python manage.py serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python manage.py makemigrations --check --dry-run

# mypy's scope and rules are in pyproject.toml; its Django plugin imports the settings (SECRET_KEY_FILE above).
typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

worker: install
	$(BIN)/celery -A xnatlite worker --loglevel=INFO

bench: install
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) var/static
