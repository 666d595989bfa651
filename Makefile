# Points Bank. `make run` serves the demo; `make test` runs every test; `make bench`
# prints the benchmark figures; `make chaos` runs the bank under faults for 10 minutes.
# Without DATABASE_URL an embedded PostgreSQL (pgserver) runs under ./.pointsbank
# (or $POINTSBANK_DATA_DIR).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast bench chaos clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (PYTHON=$(PYTHON))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: install
	$(BIN)/pointsbank up

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m bench

chaos: install
	$(BIN)/python -m tests.chaos.bank --minutes 10

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
