# The two commands of the README: `make demo` and `make test`. Both bootstrap a fresh machine
# first (apt: libyang2-dev, libyang2-tools; a .venv with the project and its test extras).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mso-installed

.PHONY: bootstrap demo test lint bench fuzz clean

bootstrap: $(STAMP)

$(STAMP): pyproject.toml setup.py $(wildcard collector/*.c) scripts/bootstrap.sh
	PYTHON=$(PYTHON) bash scripts/bootstrap.sh $(VENV)
	touch $@

demo: $(STAMP)
	$(PY) -m examples.demo

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/lint_yang.sh

bench: $(STAMP)
	$(PY) -m bench.rpc
	$(PY) -m bench.push
	$(PY) -m bench.decompose
	$(PY) -m bench.scaling
	$(PY) -m bench.coordination
	$(PY) -m bench.collector
	$(PY) -m bench.bus
	$(PY) -m bench.soak

fuzz: $(STAMP)
	$(PY) -m bench.fuzz
	$(PY) -m bench.fuzz --atheris -runs=20000

clean:
	rm -rf .mso-state .pytest_cache .hypothesis
