# Two commands do all the set-up: `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test clean

install: $(STAMP)

# torch==2.13.0 goes in first so that the range in pyproject.toml is already
# satisfied and pip never reaches for a multi-GB CUDA build.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip "setuptools>=77" wheel
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	-bash scripts/install-system-deps.sh
	touch $(STAMP)

run: install
	$(BIN)/noizenet run --repr abc --model lstm

# --durations=15: the slowest tests are printed with every run (CI's too), so that the
# next slow one is seen when it lands.
test: install
	$(BIN)/python -m pytest -q --durations=15

clean:
	rm -rf $(VENV) build *.egg-info
