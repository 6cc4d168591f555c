# Lake: two commands. `make up` runs the embedded lake; `make test` runs every check CI runs.
VENV ?= .venv
PYTHON ?= python3

.PHONY: up test install lint bench bench-xrootd clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

up: install
	$(VENV)/bin/lake up

test: install
	bash scripts/test.sh

lint: install
	bash scripts/lint.sh

bench: install
	$(VENV)/bin/python benchmarks/run.py

bench-xrootd: install
	$(VENV)/bin/python benchmarks/xrootd.py

clean:
	rm -rf $(VENV) lake-data
