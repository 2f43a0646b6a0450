#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL server: installs Debian's `postgresql` when it is
# missing, creates a cluster in a temporary directory, starts it on 127.0.0.1 (a free port; no
# socket outside the cluster directory), exports DATABASE_URL, runs "$@", then stops the
# server and deletes the cluster whatever happened.
#
#   scripts/with_postgres.sh .venv/bin/python -m pytest
#
# PostgreSQL refuses to run as root: when we are root the cluster belongs to the `postgres` user
# (created by the Debian package), and the command itself still runs as the caller.
set -euo pipefail

log() { echo "with_postgres: $*" >&2; }

# PRCRS_PG_ROOT and PRCRS_PG_INSTALL=0 let tests/test_required_tools.py play a machine without
# PostgreSQL; nothing else sets them.
PG_ROOT=${PRCRS_PG_ROOT:-/usr/lib/postgresql}
pg_bin_dir() {
    local dir
    dir=$(ls -d "$PG_ROOT"/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

install_postgresql() {
    log "installing the Debian package postgresql"
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
    $sudo apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            postgresql >/dev/null
}

if ! PG_BIN=$(pg_bin_dir); then
    if [ "${PRCRS_PG_INSTALL:-1}" != 0 ]; then
        install_postgresql || log "could not install postgresql"
    fi
    if ! PG_BIN=$(pg_bin_dir); then
        # The tests' shared rule: under CI a missing tool fails the run (status 1); elsewhere
        # the run is skipped with the reason (status 0).
        cd "$(dirname "$0")/.."
        exec python3 -m tests.required_tools "PostgreSQL is not installed (no initdb under" \
            "$PG_ROOT); the suite did not run against PostgreSQL"
    fi
fi

if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    as_owner() { runuser -u postgres -- "$@"; }
    OWNER=postgres
else
    as_owner() { "$@"; }
    OWNER=$(id -un)
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/prcrs-pg-XXXXXX")
chmod 755 "$WORK"
DATA="$WORK/data"
mkdir -p "$DATA" "$WORK/run"
[ "$OWNER" = postgres ] && chown -R postgres "$WORK"

PORT=${PRCRS_PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}

cleanup() {
    as_owner "$PG_BIN/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

log "initdb in $WORK ($("$PG_BIN/postgres" --version))"
as_owner "$PG_BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
    >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; exit 1; }
# Throwaway data: durability off makes the test suite's many small transactions fast.
as_owner "$PG_BIN/pg_ctl" -D "$DATA" -l "$WORK/server.log" -w -t 60 start \
    -o "-h 127.0.0.1 -p $PORT -k $WORK/run -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
as_owner "$PG_BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres prcrs

export DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/prcrs"
log "PostgreSQL on 127.0.0.1:$PORT; running: $*"
set +e
"$@"
status=$?
set -e
exit $status
