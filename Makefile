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

.PHONY: demo test lint format install embeddings clean postgresql label-studio

install: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,dask]"
	touch $(STAMP)

# Label Studio, for the test that drives a real server (tests/test_label_studio_server.py), in a
# virtualenv of its own: its Django pins would clash with the project's. Built once (a few minutes)
# and stamped with its version; when it cannot be installed, make goes on and the test is skipped,
# printing the reason kept in $(LS_VENV)/install.log. sentry-sdk<3: label-studio 1.23.2 asks for
# sentry-sdk>=2.16 only, and its start fails under 3.0 ("Unknown option 'send_default_pii'").
LS_VENV := .venv-label-studio
LABEL_STUDIO := 1.23.2
LS_STAMP := $(LS_VENV)/.installed-$(LABEL_STUDIO)
# Its database migrated once into $(LS_VENV)/template (minutes on a loaded machine): the test's
# server starts from a copy, as `label-studio start` would after migrating.
LS_MIGRATE := rm -rf $(LS_VENV)/template && SENTRY_DSN= LABEL_STUDIO_BASE_DATA_DIR=$(abspath $(LS_VENV))/template \
	$(LS_VENV)/bin/python -c "from label_studio import server; server._setup_env(); server._apply_database_migrations()"

label-studio: $(LS_STAMP)

$(LS_STAMP):
	@echo "installing label-studio==$(LABEL_STUDIO) into $(LS_VENV) (once; a few minutes)"
	@{ test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV); } >$(LS_VENV).log 2>&1; \
	if $(LS_VENV)/bin/python -m pip install --quiet "label-studio==$(LABEL_STUDIO)" "sentry-sdk<3" >>$(LS_VENV).log 2>&1 \
	   && $(LS_MIGRATE) >>$(LS_VENV).log 2>&1; \
	then rm -f $(LS_VENV).log $(LS_VENV)/install.log; touch $@; \
	else mkdir -p $(LS_VENV); mv -f $(LS_VENV).log $(LS_VENV)/install.log; \
	  echo "label-studio could not be installed (see $(LS_VENV)/install.log): its test will be skipped"; fi

# The optional text embedder (pool.embedder): torch 2.13.0 is the CPU build this machine keeps on disk.
embeddings: $(STAMP)
	$(BIN)/python -m pip install --quiet "torch==2.13.0" -e ".[embeddings]"

demo: $(STAMP)
	$(BIN)/alflow demo

# Two workers: most of the suite waits on servers and subprocesses, so two cores run it in about 9 minutes.
test: $(STAMP) $(CHROMIUM) postgresql $(LS_STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

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
	rm -rf $(VENV) $(LS_VENV) alflow-demo .pytest_cache .ruff_cache
