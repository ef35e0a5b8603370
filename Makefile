# Two entry points (see README): `make setup` + `benchmark run`, and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: setup chromium run test test-all clean repro

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -c requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# Headless Chromium (Debian package) for the rendered-report tests.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will be skipped"; }

run: setup
	$(VENV)/bin/benchmark run --methods all --dataset moving-shapes --profile cpu --jobs 2

test: setup chromium
	$(PY) -m pytest -q -rs  # -rs: every skipped test says why (e.g. no chromium without root or apt)

test-all: setup chromium
	$(PY) -m pytest -q -rs -m ""

clean:
	rm -rf $(VENV) .cache runs reports/moving-shapes

# The DVC pipeline (dvc.yaml): stages call `benchmark`, so the venv's bin goes first on PATH.
repro: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/dvc repro
