# The two commands: `make run` and `make test`. Everything else is what they are made of.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LOCK   := requirements/dev.lock
OWNERSHIP := packages/schemathesis-ownership
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml $(OWNERSHIP)/pyproject.toml $(LOCK) | cksum | cut -d' ' -f1)
HOST   ?= 127.0.0.1
# Test processes (pytest-xdist): more than the two cores, as most of a test's time is waiting on
# a server, a subprocess or a database, not computing (research F1).
TEST_WORKERS ?= 4
PORT   ?= 8000
# Python's bytecode caches (git-ignored), whatever the environment says: with
# PYTHONDONTWRITEBYTECODE set, every pytest process rewrites the assertions of ~460 modules (the
# tests and the pytest plugins' packages) again, about 6 s of CPU each (research F5).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help install lock run test test-pg quick lint format unit integration contract e2e fuzz bench bench-test clean

help:  ## list targets
	@grep -E '^[a-z0-9-]+:.*##' $(MAKEFILE_LIST) | sed -e 's/\$$(HOST)/$(HOST)/g' -e 's/\$$(PORT)/$(PORT)/g' \
	  | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# A fresh venv holding exactly the lock: its hashes put pip in hash-checking mode, so nothing
# unlocked is installed. Then the project itself and the ownership checks' package (its one
# dependency, schemathesis, is in the lock), editable, built by the locked hatchling.
$(STAMP): pyproject.toml $(OWNERSHIP)/pyproject.toml $(LOCK)
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . -e $(OWNERSHIP)
	touch $@

install: $(STAMP)  ## create .venv from requirements/dev.lock and install the packages (editable)

# Runtime, dev (+ the build backend) and bench locks for CPython 3.11 on Linux x86_64; each pin
# lists the hashes of all its files. Existing pins are kept unless UPGRADE=1.
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-unknown-linux-gnu --custom-compile-command 'make lock' \
	$(if $(UPGRADE),--upgrade)
lock: $(STAMP)  ## regenerate requirements/*.lock from pyproject.toml (UPGRADE=1: newest versions)
	$(UV_COMPILE) pyproject.toml requirements/build.in --extra dev -o $(LOCK)
	$(UV_COMPILE) pyproject.toml requirements/build.in -c $(LOCK) -o requirements/runtime.lock
	$(UV_COMPILE) pyproject.toml requirements/build.in --extra dev --extra bench -c $(LOCK) \
	  -o requirements/bench.lock

.env: | $(STAMP)
	@sed "s|^BETTER_AUTH_SECRET=.*|BETTER_AUTH_SECRET=$$($(BIN)/todo-api secret)|" .env.example > .env
	@echo "wrote .env with a generated development secret"

run: $(STAMP) .env  ## serve on http://$(HOST):$(PORT) (SQLite) and print a ready-to-paste curl
	$(BIN)/todo-api serve --host $(HOST) --port $(PORT) --demo-user demo-user

lint: $(STAMP)  ## ruff (format + lint) and mypy --strict
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(STAMP)  ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Test modules mirror the code (backend/tests/<package>/test_<module>.py); unit and integration are
# marks, not folders: a module of pure logic is marked `unit`.
unit: $(STAMP)  ## unit tests only (marked `unit`)
	$(BIN)/pytest -m unit backend/tests

integration: $(STAMP)  ## integration tests (real app, real SQLite [+ PostgreSQL], real uvicorn)
	$(BIN)/pytest -m "not unit and not e2e and not interop" backend/tests

contract: $(STAMP)  ## contract tests: spec quality and lint, parity, Schemathesis (in-process and CLI)
	$(BIN)/pytest contract_tests

e2e: $(STAMP)  ## the real-browser test (Debian's chromium); screenshots in reports/e2e/
	$(BIN)/pytest -m e2e backend/tests/e2e

fuzz: $(STAMP)  ## a deeper Schemathesis run for release checks (ST_MAX_EXAMPLES=500, every bad credential on every case)
	ST_MAX_EXAMPLES=$${ST_MAX_EXAMPLES:-500} ST_REPLAYS=$${ST_REPLAYS:-all} $(BIN)/pytest contract_tests/test_schemathesis.py contract_tests/test_schemathesis_cli.py

bench: $(STAMP)  ## benchmarks on SQLite, and PostgreSQL if BENCH_PG_URL answers (~32 min, BENCH_QUICK=1 ~15) -> docs/benchmarks.md
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq wrk; \
	  else echo "make bench needs wrk: sudo apt-get install -y wrk"; exit 1; fi; }
	@command -v taskset >/dev/null || { echo "make bench needs taskset (util-linux)"; exit 1; }
	@$(BIN)/python -c 'import matplotlib' 2>/dev/null || \
	  $(BIN)/python -m pip install --quiet --require-hashes -r requirements/bench.lock
	PYTHONPATH=bench:backend/tests $(BIN)/python bench/run.py

test: lint  ## lint, then every test in parallel: on SQLite, and also on PostgreSQL when TEST_DATABASE_URL is set
	$(BIN)/pytest -n $(TEST_WORKERS)
	$(MAKE) --no-print-directory bench-test

# The inner loop is computing, not waiting: one process a core, on SQLite only (`make test` adds
# PostgreSQL when TEST_DATABASE_URL is set).
quick: $(STAMP)  ## the inner loop (< 60 s): unit tests and the in-process contract tests on SQLite, in parallel
	env -u TEST_DATABASE_URL $(BIN)/pytest -n auto -q backend/tests contract_tests \
	  -m "(unit or contract) and not server and not node"

# The bench's measuring sticks (the floor, the product variants) checked against the product: a
# suite of its own, outside the product's test paths, needing nothing of requirements/bench.lock.
bench-test: $(STAMP)  ## the bench's own tests (bench/tests), also run by `make test`
	$(BIN)/pytest bench/tests

test-pg:  ## `make test` on SQLite and the local PostgreSQL (also through PgBouncer), with the local Redis (as .ci/run does)
	TEST_DATABASE_URL=$${TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres} \
	TEST_REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/0} \
	  $(MAKE) test

clean:  ## remove the venv, caches and local data
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache data reports
