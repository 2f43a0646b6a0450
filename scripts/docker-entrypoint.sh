#!/bin/sh
# Container entry point: apply migrations (which also registers the bundled models on a fresh
# database), then exec the command (gunicorn by default) so it gets the signals directly.
#
# With several replicas, run migrations once instead (a Compose one-off service or a Kubernetes
# Job) and start the replicas with PRCRS_MIGRATE_ON_START=0.
set -eu
if [ "${PRCRS_MIGRATE_ON_START:-1}" = "1" ]; then
    python manage.py migrate --noinput -v1
fi
exec "$@"
