# The two commands of the README:
#   make run   set up (virtual environment + install), then run the main job on the built-in default
#   make test  set up, then run every test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
OUT ?= results

.PHONY: setup run test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: setup
	$(BIN)/python -m workbench sweep --model default --out $(OUT)

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python -m bench.ptq
	$(BIN)/python -m bench.compare_tfmot
	$(BIN)/python -m bench.devices

clean:
	rm -rf $(OUT) .workbench .pytest_cache
