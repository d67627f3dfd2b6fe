# The two commands: `make run` and `make test`. Everything else is what they are made of.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: help install run test test-pg lint format unit integration contract fuzz clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)  ## create .venv and install the package with its dev tools

.env: | $(STAMP)
	@sed "s|^BETTER_AUTH_SECRET=.*|BETTER_AUTH_SECRET=$$($(BIN)/todo-api secret)|" .env.example > .env
	@echo "wrote .env with a generated development secret"

run: $(STAMP) .env  ## serve on http://127.0.0.1:8000 (SQLite) and print a ready-to-paste curl
	$(BIN)/todo-api serve --host 127.0.0.1 --port 8000 --demo-user demo-user

lint: $(STAMP)  ## ruff (format + lint) and mypy --strict
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(STAMP)  ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

unit: $(STAMP)  ## unit tests only
	$(BIN)/pytest backend/tests/unit

integration: $(STAMP)  ## integration tests (real app, real SQLite [+ PostgreSQL], real uvicorn)
	$(BIN)/pytest backend/tests/integration

contract: $(STAMP)  ## contract tests: spec quality and lint, parity, Schemathesis (in-process and CLI)
	$(BIN)/pytest contract_tests

fuzz: $(STAMP)  ## a deeper Schemathesis run for release checks (ST_MAX_EXAMPLES=500 by default)
	ST_MAX_EXAMPLES=$${ST_MAX_EXAMPLES:-500} $(BIN)/pytest contract_tests/test_schemathesis.py contract_tests/test_schemathesis_cli.py

test: lint  ## lint, then every test: on SQLite, and also on PostgreSQL when TEST_DATABASE_URL is set
	$(BIN)/pytest

test-pg:  ## `make test` on SQLite and on the local PostgreSQL (as .ci/run does)
	TEST_DATABASE_URL=$${TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres} \
	  $(MAKE) test

clean:  ## remove the venv, caches and local data
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache data reports
