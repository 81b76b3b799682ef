# model-release-bot: `make run` runs the bot, `make test` runs every check. Both set up what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: run test lock package clean

run: $(VENV)/.runtime
	$(PY) app.py

test: $(VENV)/.dev node_modules/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed as $(PYTHON)")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements/runtime.lock | $(VENV)/bin/python
	$(PIP) install --require-hashes --no-deps -r requirements/runtime.lock
	touch $@

$(VENV)/.dev: requirements/dev.lock $(VENV)/.runtime
	$(PIP) install --require-hashes --no-deps -r requirements/dev.lock
	touch $@

# The Node tools the tests use (the Teams manifest schemas), pinned in package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# The Teams app package, filled from the settings: dist/model-release-bot.zip.
package: $(VENV)/.runtime
	$(PY) -m bot.manifest

# Re-pin every dependency (needs pip-tools in the venv); commit the changed lock files.
# A fresh resolution: starting from the old pins, pip-compile backtracks for many minutes
# (azure-ai-ml and the Agents SDK must agree on the opentelemetry packages).
lock: | $(VENV)/bin/python
	$(PIP) install pip-tools
	rm -f requirements/runtime.lock requirements/dev.lock
	cd requirements && ../$(VENV)/bin/pip-compile -q --strip-extras --generate-hashes --allow-unsafe -o runtime.lock runtime.in
	cd requirements && ../$(VENV)/bin/pip-compile -q --strip-extras --generate-hashes --allow-unsafe -o dev.lock dev.in

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
