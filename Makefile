# PrCRS web: `make serve` runs the site, `make test` runs every test. Both set up from scratch.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# apt-get needs root; use sudo where we are not root and it exists.
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo)

.PHONY: serve test test-postgres test-container test-scaleout setup system-packages \
	scaleout-packages messages static migrate fhir-test-server

setup: system-packages $(VENV)/.installed messages static fhir-test-server

# The in-memory FHIR server the CDS Hooks tests start (tests/fhir_server, from its lockfile).
fhir-test-server: tests/fhir_server/node_modules/.installed
tests/fhir_server/node_modules/.installed: tests/fhir_server/package.json tests/fhir_server/package-lock.json
	cd tests/fhir_server && npm ci --no-audit --no-fund --ignore-scripts
	touch $@

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

# Debian packages: gettext for compilemessages, Chromium and its driver for the browser tests,
# nginx for the lockout test behind the proxy (tests/test_lockout.py, part of `make test`),
# node/npm for the FHIR test server, wrk for the serving benchmark's request-path section
# (tests/test_serving_bench.py). Under CI a test whose tool is missing fails
# (tests/required_tools.py): install them all.
system-packages:
	@missing=""; \
	command -v msgfmt >/dev/null || missing="$$missing gettext"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

messages: $(VENV)/.installed
	$(PY) manage.py compilemessages --ignore=.venv -v0

static: $(VENV)/.installed
	$(PY) manage.py collectstatic --noinput -v0

migrate: $(VENV)/.installed
	$(PY) manage.py migrate --noinput -v1

# gunicorn as in production (gunicorn.conf.py; GUNICORN_* variables), Django's debug settings.
serve: setup migrate
	GUNICORN_BIND=$(HOST):$(PORT) $(VENV)/bin/gunicorn -c gunicorn.conf.py

# The image and scale-out tests have their own targets (below): they build and start more.
UNIT_TESTS := -m "not container and not scaleout"

test: setup
	$(PY) -m pytest $(UNIT_TESTS)

# The suite again against a throwaway PostgreSQL server on loopback (installed if missing).
# PG_TESTS=db (what .ci/run uses) keeps only the tests that reach the database
# (scripts/pytest_db_only.py): the rest run the same on either. The whole suite twice took CI
# 49 minutes on a slow runner; PG_TESTS=all still runs everything.
PG_TESTS ?= all
test-postgres: setup
	scripts/with_postgres.sh $(PY) -m pytest $(UNIT_TESTS) $(if $(filter db,$(PG_TESTS)),-p scripts.pytest_db_only)

# The image built from the Dockerfile with podman and run for real (tests/test_container.py),
# and the Kubernetes manifests (deploy/kubernetes/) run on it with `podman kube play`
# (tests/test_kubernetes_pods.py). Installs podman/runc/catatonit/debootstrap when missing;
# where no registry is reachable the base image python:3.11-slim is made from Debian's archive
# once and cached (scripts/local_base_image.sh).
test-container: setup
	scripts/container_setup.sh
	$(PY) -m pytest -s -m container tests/test_container.py tests/test_kubernetes_pods.py

# Two replicas + PostgreSQL + nginx (deploy/nginx.conf) on loopback (tests/test_scaleout.py).
test-scaleout: setup scaleout-packages
	$(PY) -m pytest -s -m scaleout tests/test_scaleout.py

scaleout-packages:
	@missing=""; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
