# Pathfinder: `make run` to try it, `make test` to check it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PATHFINDER := $(BIN)/pathfinder
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=

.PHONY: install translations extract-messages run serve migrate deploy seed test test-pg lint format bench bench-quick clean e2e-deps

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The modeler bundle (bpmn-js + properties panel), built with esbuild from web/static/modeler/.
web/static/build/modeler.js: node_modules/.installed $(wildcard web/static/modeler/*)
	npm run build --silent

# Message catalogs: web/translations/<lang>/LC_MESSAGES/messages.po, compiled to .mo (not committed).
CATALOGS := $(wildcard web/translations/*/LC_MESSAGES/messages.po)
translations: $(VENV)/.installed $(CATALOGS:.po=.mo)

web/translations/%/LC_MESSAGES/messages.mo: web/translations/%/LC_MESSAGES/messages.po $(VENV)/.installed
	$(BIN)/pybabel compile --use-fuzzy -d web/translations -l $* -i $< -o $@ --statistics 2>&1 | grep -v '^compiling' || true

# After changing strings: re-extract web/translations/messages.pot and merge it into each
# catalog, then translate what `pathfinder i18n check` lists.
extract-messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -k N_ --no-location --sort-output --width=100 \
		--project=Pathfinder --copyright-holder="Alliance 8.7" -o web/translations/messages.pot .
	$(BIN)/pybabel update -i web/translations/messages.pot -d web/translations --no-fuzzy-matching --ignore-obsolete --width=100

install: $(VENV)/.installed node_modules/.installed web/static/build/modeler.js translations

migrate: install
	$(PATHFINDER) db upgrade

deploy: migrate
	$(PATHFINDER) deploy --bundled

seed: deploy
	$(PATHFINDER) seed

# PATHFINDER_DEV=1: keep a generated secret key in var/secret_key (production must set one).
run: seed
	PATHFINDER_DEV=1 PATHFINDER_SECURE_COOKIES=0 PORT=$(PORT) $(PATHFINDER) serve --host $(HOST) --port $(PORT)

serve: install
	PATHFINDER_DEV=1 PORT=$(PORT) $(PATHFINDER) serve --host $(HOST) --port $(PORT)

# The whole suite on SQLite; then on PostgreSQL when TEST_DATABASE_URL names one (CI sets it).
# The PostgreSQL pass leaves out browser tests and `slow` scenarios (the engine logic they
# cover does not depend on the database). Each pass ends with its 10 slowest tests.
test: install
	$(PATHFINDER) i18n check --stale --quiet
	env -u TEST_DATABASE_URL $(BIN)/pytest -n auto --dist loadgroup -q --durations=10 $(PYTEST_ARGS)
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== again on PostgreSQL ($$TEST_DATABASE_URL), browser and slow tests excluded =="; \
		$(BIN)/pytest -n auto --dist loadgroup -q --durations=10 -m "not e2e and not slow" $(PYTEST_ARGS); \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy engine web cli

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m bench

bench-quick: install
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) node_modules var test-output web/static/build .pytest_cache .ruff_cache .mypy_cache
