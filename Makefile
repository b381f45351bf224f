# Two commands matter: `make run` (set up and start the showcase) and `make test` (set up, lint, test).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Until the server lands (issue 5), the showcase is the trainer in the terminal: Ctrl-C saves a
# checkpoint, and running it again resumes the same run.
run: install
	$(PY) -m trainer train --run-dir runs/showcase --resume

test: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: install
	$(PY) -m trainer bench env --envs 64 --seconds 10
	$(PY) -m trainer bench train --json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
