# Two commands do all set-up on a fresh machine:
#   make run    create .venv, install, build GraphiQL's assets, migrate and serve
#   make test   the same set-up, then the whole suite (SQLite and PostgreSQL)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
ASSETS := graphql_api/static/graphiql/manifest.json

.PHONY: install graphiql console conformance run migrate test test-fast test-sqlite schema check-contract lint clean bench fuzz

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

$(ASSETS): graphiql/package-lock.json graphiql/build.py $(wildcard graphiql/page/*)
	$(BIN)/python graphiql/build.py

graphiql: $(INSTALLED) $(ASSETS)

# The web console (console/): npm ci from its lockfile, then codegen from
# schema.graphql, a type check and a Vite build into graphql_api/static/console.
CONSOLE := graphql_api/static/console/index.html
CONSOLE_MODULES := console/node_modules/.package-lock.json
CONSOLE_SOURCES := $(shell find console/src console/public -type f -not -path 'console/src/gql/*' 2>/dev/null) \
	console/index.html console/vite.config.ts console/codegen.ts console/tsconfig.json
$(CONSOLE_MODULES): console/package-lock.json
	npm ci --prefix console --no-audit --no-fund --loglevel=error
$(CONSOLE): $(CONSOLE_MODULES) $(CONSOLE_SOURCES) schema.graphql
	npm run --prefix console --silent build

console: $(CONSOLE)

# The GraphQL-over-HTTP audits (npm's graphql-http), run by tests/test_graphql_over_http.py.
CONFORMANCE := tests/conformance/node_modules/.package-lock.json
$(CONFORMANCE): tests/conformance/package-lock.json
	npm ci --prefix tests/conformance --no-audit --no-fund --loglevel=error

conformance: $(CONFORMANCE)

run: install graphiql console
	$(BIN)/strongroom serve

migrate: install
	$(BIN)/strongroom migrate --init

test: install graphiql console conformance
	$(BIN)/python -m pytest

# The fast loop: everything but the tests marked `slow` (CI runs `make test`).
test-fast: install graphiql console conformance
	$(BIN)/python -m pytest -m "not slow"

test-sqlite: install graphiql console conformance
	STRONGROOM_TEST_DATABASES=sqlite $(BIN)/python -m pytest

# A longer GraphQL fuzzing run than the bounded one in the suite.
fuzz: install
	$(BIN)/python -m tests.fuzz_long --examples 5000

schema: install
	$(BIN)/strongroom schema --output schema.graphql

check-contract: install
	$(BIN)/python ../shared/tools/check_contract.py schema.graphql

# Benchmarks (never part of `make test`): bench/README.md. BENCH_QUICK=1 for a
# short run, BENCH_ONLY=read,write to pick scenarios; writes bench-results.json.
bench: install
	$(BIN)/python -m bench

LINTED := graphql_api plugins models tests bench

lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) graphiql/node_modules console/node_modules console/src/gql graphql_api/static/console tests/conformance/node_modules graphql_api/static/graphiql .pytest_cache .mypy_cache
