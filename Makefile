# kotacerdas — the two commands of the README's quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export KOTACERDAS_DATA_DIR ?= data

.PHONY: install demo serve test test-fast check lint format migration-regen clean i18n bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

.venv-clients/.installed: tests/clients/requirements-ngsildclient.txt tests/clients/requirements-georeport.txt ## third-party clients (NGSI-LD, Open311) for the client tests, in their own venv (their pins clash with ours)
	$(PYTHON) -m venv .venv-clients
	.venv-clients/bin/pip install --quiet -r tests/clients/requirements-ngsildclient.txt
	.venv-clients/bin/pip install --quiet -r tests/clients/requirements-georeport.txt
	touch .venv-clients/.installed

install: $(STAMP)

demo: $(STAMP) ## fresh demo database (Jember, Probolinggo, Jombang) served at http://127.0.0.1:8000
	$(BIN)/kotacerdas demo --reset

serve: $(STAMP)
	$(BIN)/kotacerdas serve

test: $(STAMP) .venv-clients/.installed ## every test; PostgreSQL, Mosquitto and Chromium tests skip (and say so) when those are missing
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)

test-fast: $(STAMP)
	KOTACERDAS_TEST_BACKENDS=sqlite $(BIN)/python -m pytest -x -q -m "not slow and not browser" $(PYTEST_ARGS)

bench: $(STAMP) ## the benchmarks (hub and citizen reports), ceilings and targets (~9 min; BENCH_ARGS=--quick ~5): BENCH=upsert|mqtt|queries|notify
	$(BIN)/python -m bench.run $(BENCH) $(BENCH_ARGS)

check: $(STAMP) ## ruff and mypy (strict)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

migration-regen: $(STAMP) ## before the first release only: rebuild the single initial migration from the models
	./scripts/regen_initial_migration.sh

clean:
	rm -rf $(VENV) .venv-clients build dist .pytest_cache .mypy_cache .ruff_cache

i18n: $(STAMP) ## extract message ids and update the id/en catalogs (then translate the new entries in locale/id)
	$(BIN)/pybabel extract -F babel.cfg --no-default-keywords -k _ -k _n:1,2 --no-location --sort-output --project kotacerdas --version 0.1.0 -o src/kotacerdas/locale/messages.pot .
	for l in id en; do \
	  if [ -f src/kotacerdas/locale/$$l/LC_MESSAGES/messages.po ]; then \
	    $(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -i src/kotacerdas/locale/messages.pot -d src/kotacerdas/locale -l $$l; \
	  else \
	    $(BIN)/pybabel init -i src/kotacerdas/locale/messages.pot -d src/kotacerdas/locale -l $$l; \
	  fi; \
	done
