# Two commands do all set-up on a fresh machine:
#   make run    create .venv, install, build GraphiQL's assets, migrate and serve
#   make test   the same set-up, then the whole suite (SQLite and PostgreSQL)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
ASSETS := graphql_api/static/graphiql/manifest.json

.PHONY: install graphiql run migrate test test-sqlite schema check-contract lint clean bench

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

$(ASSETS): graphiql/package-lock.json graphiql/build.py $(wildcard graphiql/page/*)
	$(BIN)/python graphiql/build.py

graphiql: $(INSTALLED) $(ASSETS)

run: install graphiql
	$(BIN)/strongroom serve

migrate: install
	$(BIN)/strongroom migrate --init

test: install graphiql
	$(BIN)/python -m pytest

test-sqlite: install graphiql
	STRONGROOM_TEST_DATABASES=sqlite $(BIN)/python -m pytest

schema: install
	$(BIN)/strongroom schema --output schema.graphql

check-contract: install
	$(BIN)/python ../shared/tools/check_contract.py schema.graphql

# Benchmarks (never part of `make test`): bench/README.md. BENCH_QUICK=1 for a
# short run, BENCH_ONLY=read,write to pick scenarios; writes bench-results.json.
bench: install
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check graphql_api plugins models tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) graphiql/node_modules graphql_api/static/graphiql .pytest_cache .mypy_cache
