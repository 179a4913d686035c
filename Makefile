# `make demo` and `make test` work as the first command on a bare machine with Python 3.11:
# they create .venv and install the project when it is missing or pyproject.toml changed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The browser test drives Debian's chromium through Playwright; no browser build is ever downloaded.
CHROMIUM := /usr/bin/chromium
# The team-stack tests start Debian's PostgreSQL on loopback (initdb + pg_ctl in a throwaway folder).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export GX_ANALYTICS_ENABLED ?= false

.PHONY: demo test lint format install embeddings clean postgresql

install: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,dask]"
	touch $(STAMP)

# The optional text embedder (pool.embedder): torch 2.13.0 is the CPU build this machine keeps on disk.
embeddings: $(STAMP)
	$(BIN)/python -m pip install --quiet "torch==2.13.0" -e ".[embeddings]"

demo: $(STAMP)
	$(BIN)/alflow demo

# Two workers: most of the suite waits on servers and subprocesses, so two cores run it in about 9 minutes.
test: $(STAMP) $(CHROMIUM) postgresql
	$(BIN)/python -m pytest -n 2

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

# The server binaries live under /usr/lib/postgresql/<version>/bin: install them when none is there.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) alflow-demo .pytest_cache .ruff_cache
