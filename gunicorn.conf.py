"""gunicorn settings for PrCRS web, every value from an environment variable.

Defaults suit a 2-core machine: 4 worker processes x 2 threads, each process running PyTorch on
one thread (PRCRS_TORCH_THREADS=1; no OpenMP pool spins on a busy core). A prediction is well under
1 ms of CPU, most of it Python holding its process's lock, so processes, not threads, use both
cores; and gthread workers share kept-alive connections unevenly (measured with wrk, 16
connections: with 2 workers, now and then all 16 sat on one worker and one core idled, ~790
instead of ~1,700 predictions/s; with 4 workers the spread stays even, ~1,600/s). Each worker holds
~360 MiB with all bundled models (measured at start; a hostile 5 MB upload adds ~35 MiB).

Models load in each worker after the fork, never in the master: PyTorch's thread pools and
gunicorn's preload do not mix, and a worker replaced after ``max_requests`` loads its own copy.
``post_worker_init`` loads them before the worker accepts its first request.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prcrs_site.env import env_bool, env_int, env_str  # noqa: E402

# PyTorch reads these when it is imported in the worker; one thread per process by default.
os.environ.setdefault("PRCRS_TORCH_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", os.environ["PRCRS_TORCH_THREADS"])
os.environ.setdefault("MKL_NUM_THREADS", os.environ["PRCRS_TORCH_THREADS"])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prcrs_site.settings")

wsgi_app = "prcrs_site.wsgi:application"
bind = env_str("GUNICORN_BIND", "127.0.0.1:8000").split(",")
workers = env_int("GUNICORN_WORKERS", 4)
threads = env_int("GUNICORN_THREADS", 2)
worker_class = "gthread"
# A request that takes longer than this is stuck: the worker is killed and replaced.
timeout = env_int("GUNICORN_TIMEOUT", 30)
# On SIGTERM (deploys, scale-in) running requests get this long to finish.
graceful_timeout = env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = env_int("GUNICORN_KEEPALIVE", 5)
# Recycle workers now and then (bounded memory growth); jitter keeps them from all restarting
# at once, and a new worker loads its models before it takes requests.
max_requests = env_int("GUNICORN_MAX_REQUESTS", 20000)
max_requests_jitter = env_int("GUNICORN_MAX_REQUESTS_JITTER", 2000)
# Never load the application (and so PyTorch) in the master unless explicitly asked; even then
# nothing loads models at import time: REGISTRY loads on first use, in the worker.
preload_app = env_bool("GUNICORN_PRELOAD", False)
# The proxies (nginx, a load balancer) whose X-Forwarded-* headers are believed: one setting,
# PRCRS_TRUSTED_PROXIES (addresses or networks, comma-separated; empty: none), that the site
# also reads for the client address of the lockout, the rate limits and the access log.
forwarded_allow_ips = env_str("PRCRS_TRUSTED_PROXIES", "")
# Access lines carry the real client (the right-most untrusted X-Forwarded-For hop), not nginx.
logger_class = "predictor.access.access_log.ClientAddressLogger"
# The heartbeat file on a container's overlay filesystem can stall workers; memory is safer.
if Path("/dev/shm").is_dir():
    worker_tmp_dir = "/dev/shm"

# Logs: stdout/stderr, JSON lines like the application's (DJANGO_LOG_FORMAT=text for plain).
accesslog = env_str("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = env_str("GUNICORN_LOG_LEVEL", "info")
# %(M)s: request time in milliseconds. Used as is for text logs; the JSON formatter takes the
# same atoms (and %(L)s, seconds) and writes named fields.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
_log_format = env_str("DJANGO_LOG_FORMAT",
                      "text" if env_bool("DJANGO_DEBUG", True) else "json")
_formatter = {"()": "prcrs_site.logging_json.JsonFormatter"} if _log_format == "json" else {
    "format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"}
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"main": _formatter},
    "handlers": {
        "error": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                  "formatter": "main"},
        "access": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout",
                   "formatter": "main"},
    },
    # gunicorn merges this over its defaults key by key: replacing "handlers" means the root
    # logger must be given too, or it would point at gunicorn's default handler, now gone.
    "root": {"handlers": ["error"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": ["error"], "level": loglevel.upper(), "propagate": False},
        # GUNICORN_ACCESS_LOG= (empty) turns access lines off.
        "gunicorn.access": {"handlers": ["access"] if accesslog else [],
                            "level": "INFO" if accesslog else "CRITICAL", "propagate": False},
    },
}


def post_worker_init(worker) -> None:
    """Load every active model in this worker before it accepts a request."""
    from django.db import connections
    from django.urls import get_resolver

    from predictor.live_catalogue import live_catalogue
    from predictor.scoring.long_lived import freeze_long_lived_objects
    from predictor.scoring.registry import REGISTRY

    # The arbiter kills a worker that stays silent for `timeout` seconds, loading included:
    # keep telling it we are alive while the models load.
    loading = threading.Event()

    def heartbeat() -> None:
        while not loading.wait(1.0):
            worker.notify()

    threading.Thread(target=heartbeat, name="prcrs-load-heartbeat", daemon=True).start()
    snapshot = None
    try:
        snapshot = REGISTRY.snapshot()
        # The catalogue (texts, limits) is cached per serving stamp: read it now too, so this
        # worker can validate and answer even if the database goes away later.
        live_catalogue(snapshot.stamp)
    except Exception:  # the database may be away: start anyway, /readyz says not ready
        worker.log.exception("worker %s could not load models at start", worker.pid)
    finally:
        loading.set()
        # Requests run on other threads with their own connections; don't keep this one open.
        connections.close_all()
    # The URLconf imports every view module on the first request it resolves (a slow first
    # answer from each new worker): import them now, so they are frozen with the rest.
    get_resolver().url_patterns
    # What is loaded now lives as long as the worker: out of the garbage collector's walks,
    # which otherwise stalled a request for 100-300 ms now and then (the p99 at c=1).
    frozen = freeze_long_lived_objects()
    if snapshot is not None:
        worker.log.info("worker %s ready: %d model(s) loaded, %d failed (stamp %s), %d "
                        "long-lived objects frozen", worker.pid, len(snapshot.models),
                        len(snapshot.failures), snapshot.stamp, frozen)


def worker_exit(server, worker) -> None:
    """Write the prediction-log records still queued before the worker goes (a normal stop,
    a restart after max_requests, a graceful reload)."""
    try:
        from predictor.scoring.prediction_log import wait_until_written

        wait_until_written(timeout=5.0)
    except Exception:  # never block the exit on logging
        worker.log.exception("prediction log not flushed at exit")
