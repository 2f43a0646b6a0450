#!/usr/bin/env bash
# Run the Dockerfile's build and start steps without any container engine, so a broken step
# shows up in seconds (the image itself is built and run by `make test-container`):
#
#   1. copy the build context as .dockerignore filters it;
#   2. a clean virtualenv with `pip install -r requirements.txt` (pip's own configuration
#      decides where torch comes from: here the local CPU wheel, in the image PyTorch's CPU index);
#   3. compilemessages and collectstatic with the image's build-time environment;
#   4. the entry point: migrations on a scratch SQLite database (registers the bundled models);
#   5. gunicorn --check-config, then gunicorn started by the entry point as the image starts it;
#   6. the HEALTHCHECK command (scripts/healthcheck.py), /readyz and one hashed static file.
#
# What it cannot check: the python:3.11-slim base, apt inside it, the non-root user, the image
# layers. Usage: scripts/check_image_steps.sh [--keep]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/prcrs-image-XXXXXX")
APP="$WORK/app"
SERVER_PID=""
step() { echo "== $*"; }

cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ "${1:-}" != "--keep" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap 'cleanup "${KEEP:-}"' EXIT
[ "${1:-}" = "--keep" ] && KEEP=--keep

step "build context (COPY . . filtered by .dockerignore) -> $APP"
"$PYTHON" - "$ROOT" "$APP" <<'PY'
import fnmatch, os, shutil, sys
from pathlib import Path
root, dest = Path(sys.argv[1]), Path(sys.argv[2])
patterns = [l.strip() for l in (root / ".dockerignore").read_text().splitlines()
            if l.strip() and not l.startswith("#")]

def ignored(rel: str) -> bool:
    parts = rel.split("/")
    for pattern in patterns:
        if pattern.startswith("**/"):  # at any depth
            if any(fnmatch.fnmatch(part, pattern[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatch("/".join(parts[:i]), pattern) for i in range(1, len(parts) + 1)):
            return True
    return False

count = 0
for directory, subdirs, files in os.walk(root):
    base = Path(directory).relative_to(root).as_posix()
    rel = lambda name: name if base == "." else f"{base}/{name}"
    subdirs[:] = [d for d in subdirs if not ignored(rel(d))]
    for name in files:
        if ignored(rel(name)):
            continue
        target = dest / rel(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(directory) / name, target)
        count += 1
print(f"   {count} files")
PY
for required in manage.py gunicorn.conf.py requirements.txt scripts/docker-entrypoint.sh \
        scripts/healthcheck.py prcrs_site/settings.py; do
    [ -f "$APP/$required" ] || { echo "missing from the build context: $required"; exit 1; }
done
echo "   bundled models in context: $(ls "$APP"/models_store/*.pt 2>/dev/null | wc -l)"

step "clean virtualenv + pip install -r requirements.txt"
"$PYTHON" -m venv "$WORK/venv"
export PATH="$WORK/venv/bin:$PATH"
pip install --quiet -r "$APP/requirements.txt"
python -c "import torch; print('   torch', torch.__version__, 'cuda' if torch.cuda.is_available() else 'cpu')"

cd "$APP"
BUILD_ENV=(DJANGO_DEBUG=0 DJANGO_SECRET_KEY=build-only DJANGO_ALLOWED_HOSTS=build)
step "compilemessages"
env "${BUILD_ENV[@]}" python manage.py compilemessages --ignore=.venv -v0
step "collectstatic (whitenoise, compressed + hashed names)"
env "${BUILD_ENV[@]}" python manage.py collectstatic --noinput -v0
test -f staticfiles/staticfiles.json || { echo "no manifest written"; exit 1; }
mkdir -p var/models

# The image's run-time environment (Dockerfile ENV) plus what a deployment provides.
PORT=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DJANGO_DEBUG=0 DJANGO_LOG_FORMAT=json PRCRS_VAR_DIR="$APP/var" \
    PRCRS_MODELS_DIR="$APP/var/models" PRCRS_DEVICE=cpu PRCRS_TORCH_THREADS=1 \
    GUNICORN_BIND="127.0.0.1:$PORT" PRCRS_TRUSTED_PROXIES='127.0.0.1' \
    DJANGO_SECRET_KEY=check-image-steps-only DJANGO_ALLOWED_HOSTS=prcrs.example.org \
    DATABASE_URL="sqlite:///$WORK/scratch.sqlite3"
unset DJANGO_SETTINGS_MODULE

step "entry point: migrate on a scratch database"
scripts/docker-entrypoint.sh true

step "gunicorn --check-config"
gunicorn --check-config -c gunicorn.conf.py

step "start as the image does: entry point + gunicorn on 127.0.0.1:$PORT"
scripts/docker-entrypoint.sh gunicorn -c gunicorn.conf.py >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 240); do
    python scripts/healthcheck.py 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
    sleep 0.5
done

step "HEALTHCHECK command (scripts/healthcheck.py)"
python scripts/healthcheck.py && echo "   healthy"

step "/readyz and a hashed static file through whitenoise"
python - "$PORT" <<'PY'
import json, sys, time, urllib.request, urllib.error
port = sys.argv[1]
base = f"http://127.0.0.1:{port}"
for _ in range(120):
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=5) as r:
            body = json.load(r)
            print(f"   /readyz 200: {body['active']} active slots, {len(body['loaded'])} loaded")
            break
    except urllib.error.HTTPError as exc:
        body = json.load(exc)
        time.sleep(0.5)
else:
    sys.exit(f"/readyz never ready: {body}")
manifest = json.load(open("staticfiles/staticfiles.json"))["paths"]
name, hashed = next(iter(sorted(manifest.items())))
request = urllib.request.Request(f"{base}/static/{hashed}", headers={
    "Host": "prcrs.example.org", "Accept-Encoding": "gzip"})
with urllib.request.urlopen(request, timeout=5) as r:
    print(f"   /static/{hashed}: {r.status}, {r.headers.get('Content-Encoding') or 'identity'}, "
          f"Cache-Control: {r.headers.get('Cache-Control')}")
PY
echo "== all image steps passed (the image itself is not built or run here)"
