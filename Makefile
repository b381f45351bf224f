# Two commands matter: `make run` (set up and start the showcase) and `make test` (set up, lint, test).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint format bench clean

$(STAMP): pyproject.toml package.json package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	npm ci --no-audit --no-fund --silent
	touch $(STAMP)

install: $(STAMP)

# The showcase: server on http://127.0.0.1:8000 plus the supervised trainer (data in ./data).
# Ctrl-C stops both; the trainer saves a checkpoint and the next run resumes it.
run: install
	$(PY) -m server up

test: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	npx --no-install eslint static/js
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	npx --no-install eslint static/js

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: install
	$(PY) -m trainer bench env --envs 64 --seconds 10
	$(PY) -m trainer bench train --json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
