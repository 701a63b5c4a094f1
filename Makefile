# The two commands of the README:
#   make run   set up (virtual environment + install), then start the Voila dashboard on the
#              built-in default (prints its local address)
#   make test  set up, then run every test
# Also: make report (the command-line sweep and its HTML report), make bench, make doctor.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
OUT ?= results
PORT ?= 8866
export WORKBENCH_WORKSPACE ?= $(CURDIR)/.workbench

.PHONY: setup run report test bench doctor clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: setup
	$(BIN)/python -m widgets.serve --port=$(PORT)

report: setup
	$(BIN)/python -m workbench sweep --model default --out $(OUT)

test: setup
	$(BIN)/python -m pytest

doctor: setup
	$(BIN)/python -m workbench doctor --tests

bench: setup
	$(BIN)/python -m bench.ptq
	$(BIN)/python -m bench.compare_tfmot
	$(BIN)/python -m bench.devices
	$(BIN)/python -m bench.dashboard
	$(BIN)/python -m bench.selective
	$(BIN)/python -m bench.optimize
	$(BIN)/python -m bench.kernels

clean:
	rm -rf $(OUT) .workbench .pytest_cache
