# PrCRS web: one image for every replica. Built and run by `make test-container` (podman, see
# docs/deployment.md); scripts/check_image_steps.sh runs the same build steps in a virtualenv.
#
#   docker build -t prcrs-web .
#   docker run -p 8000:8000 -e DJANGO_SECRET_KEY=... -e DJANGO_ALLOWED_HOSTS=localhost prcrs-web
FROM python:3.11-slim

# CPU-only PyTorch: the +cpu wheel of the pinned torch version from PyTorch's CPU index
# (it sorts above PyPI's CUDA build of the same version, so requirements.txt stays as is).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# gettext for compilemessages; nothing else from Debian is needed at run time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --uid 10001 --create-home --home-dir /home/prcrs prcrs

WORKDIR /app
COPY requirements.txt ./
RUN pip install --extra-index-url "$TORCH_INDEX_URL" -r requirements.txt

# The code, templates, translations, static sources and the bundled models (models_store/).
COPY . .

# Build-time only values: the settings refuse to load with debug off and no secret.
RUN DJANGO_DEBUG=0 DJANGO_SECRET_KEY=build-only DJANGO_ALLOWED_HOSTS=build \
        python manage.py compilemessages --ignore=.venv -v0 \
    && DJANGO_DEBUG=0 DJANGO_SECRET_KEY=build-only DJANGO_ALLOWED_HOSTS=build \
        python manage.py collectstatic --noinput -v0 \
    && mkdir -p /app/var/models \
    && chown -R prcrs:prcrs /app/var

# Production defaults; DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS and DATABASE_URL come from the
# deployment. Without DATABASE_URL a SQLite file in /app/var serves (one container only).
ENV DJANGO_DEBUG=0 \
    DJANGO_LOG_FORMAT=json \
    PRCRS_VAR_DIR=/app/var \
    PRCRS_MODELS_DIR=/app/var/models \
    PRCRS_DEVICE=cpu \
    PRCRS_TORCH_THREADS=1 \
    GUNICORN_BIND=0.0.0.0:8000
# No proxy is trusted by default: behind one, set PRCRS_TRUSTED_PROXIES to its address(es) so
# X-Forwarded-For gives the client address for the rate limits, the lockout and the logs.

USER prcrs
EXPOSE 8000
VOLUME ["/app/var"]

# Liveness only (no database): a database outage must not get healthy containers restarted.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "scripts/healthcheck.py"]

# Migrates (PRCRS_MIGRATE_ON_START=1, the default), then runs the command: gunicorn.
ENTRYPOINT ["scripts/docker-entrypoint.sh"]
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
