# Points Bank. `make run` serves the demo; `make test` runs every test; `make bench`
# prints the benchmark figures; `make chaos` runs the bank under faults for 10 minutes;
# `make mutate` runs the mutant catalogue (tests/mutants, `ONLY=name[,name]` for some) and
# `make fuzz` a longer schemathesis run, which `make test` does not. Without DATABASE_URL an
# embedded PostgreSQL (pgserver) runs under ./.pointsbank (or $POINTSBANK_DATA_DIR).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast fuzz bench chaos mutate clean

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

# the fuzzing of tests/e2e/test_fuzz.py with many more requests per operation and role
fuzz: install
	POINTSBANK_FUZZ_EXAMPLES=$${POINTSBANK_FUZZ_EXAMPLES:-25} $(BIN)/python -m pytest -q -s tests/e2e/test_fuzz.py

bench: install
	$(BIN)/python -m bench

mutate: install
	$(BIN)/python -m tests.mutants $(if $(ONLY),--only $(ONLY))

chaos: install
	$(BIN)/python -m tests.chaos.bank --minutes 10

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
