# model-release-bot: `make run` runs the bot, `make test` runs every check, `make check` the fast
# lane (under a minute). They set up what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

# Debian's Chromium (browser end-to-end tests) and PostgreSQL (the store contract on both
# stores; the tests start their own cluster); root installs them, others through sudo.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: run test check demo lock package clean

run: $(VENV)/.runtime
	$(PY) app.py

# The whole product on loopback, with no Azure: see the README's "Try it".
demo: $(VENV)/.runtime node_modules/.installed
	$(PY) -m demo

test: $(VENV)/.dev node_modules/.installed $(CHROMIUM) $(VENV)/.postgres
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

# The fast lane while working: lint, types and the tests that need no browser, no PostgreSQL and
# none of the slow ones (markers in pyproject.toml). `make test` runs everything.
check: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -m "not e2e and not postgres and not slow"

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed as $(PYTHON)")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements/runtime.lock | $(VENV)/bin/python
	$(PIP) install --require-hashes --no-deps -r requirements/runtime.lock
	touch $@

$(VENV)/.dev: requirements/dev.lock $(VENV)/.runtime
	$(PIP) install --require-hashes --no-deps -r requirements/dev.lock
	touch $@

# The Node tools, pinned in package-lock.json: the Agents Playground (the demo's Teams client),
# the Teams manifest schemas and Prism (tests).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

$(CHROMIUM):
	$(APT) update -qq
	$(APT) install -y -qq --no-install-recommends chromium

# The server's binaries (a client alone may be there already), whatever its major version.
$(VENV)/.postgres: | $(VENV)/bin/python
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		{ $(APT) update -qq && $(APT) install -y -qq --no-install-recommends postgresql; }
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
