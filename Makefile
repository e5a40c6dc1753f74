# Two commands on a machine with only Python 3 and make: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# make demo has a virtual environment of its own with the demo extra only, never the dev toolchain.
DEMO_VENV ?= .venv-demo
DEMO_STAMP := $(DEMO_VENV)/.installed-stamp
# make docs and make serve-docs too: the docs extra only (mkdocs-material, mkdocstrings), not the dev toolchain.
DOCS_VENV ?= .venv-docs
DOCS_STAMP := $(DOCS_VENV)/.installed-stamp
# Where make serve-docs listens: loopback only, unless you say otherwise.
DOCS_ADDR ?= 127.0.0.1:8000
SOURCES := src tests examples benchmarks docs/_ext

.PHONY: install demo test lint typecheck unit docs docs-check serve-docs cfn-lint bench bench-quick soak clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(DEMO_STAMP): pyproject.toml
	test -x $(DEMO_VENV)/bin/python || $(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[demo]'
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(DEMO_VENV)/bin/python examples/demo.py

$(DOCS_STAMP): pyproject.toml
	test -x $(DOCS_VENV)/bin/python || $(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[docs]'
	touch $(DOCS_STAMP)

lint: $(STAMP)
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

unit: $(STAMP)
	$(BIN)/python -m pytest --doctest-modules --cov --cov-branch --cov-report= --cov-fail-under=0 -q src
	$(BIN)/python -m pytest --cov --cov-append --cov-branch --cov-report=term-missing --cov-fail-under=95 tests

# The site, built strictly: a broken link or a missing page fails.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs build --strict

# The same build inside the dev environment (its dev extra includes the docs extra), as part of make test.
docs-check: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir $$(mktemp -d)

# The site at http://$(DOCS_ADDR)/ (directory links and search need a server, not file://), rebuilt on save.
serve-docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs serve --dev-addr $(DOCS_ADDR)

cfn-lint: $(STAMP)
	$(BIN)/cfn-lint examples/sam/template.yaml examples/multi_tenant/template.yaml

# The benchmark of docs/benchmarks.md (a few minutes); bench-quick only proves it still runs.
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/run.py --quick --output $$(mktemp -d)

# The long property run: many more hypothesis examples than make test.
soak: $(STAMP)
	HYPOTHESIS_PROFILE=soak $(BIN)/python -m pytest -m soak -p no:cacheprovider tests/reliability

test: lint typecheck docs-check unit bench-quick

clean:
	rm -rf $(VENV) $(DEMO_VENV) $(DOCS_VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis .coverage site
