"""PrCRS web settings. Every deployment-specific value comes from an environment variable.

Development defaults are safe to run locally (``make serve``); with ``DJANGO_DEBUG=0`` the site
refuses to start without a secret key and allowed hosts.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from prcrs_site.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PRCRS_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
if not DEBUG:
    if not SECRET_KEY:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when DJANGO_DEBUG is off.")
if not SECRET_KEY:
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production"  # noqa: S105 (debug only)

INSTALLED_APPS = [
    "modeltranslation",  # must precede django.contrib.admin for its admin tabs
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",  # locks out repeated failed logins (admin brute force)
    "predictor",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Right after SecurityMiddleware: the CSP header goes on every response (static files too).
    "prcrs_site.security.ContentSecurityPolicyMiddleware",
    # 400 for headers, query strings or form encodings Django cannot read, before anything
    # (health checks included) reads them.
    "prcrs_site.request_guards.RequestGuardMiddleware",
    # Probes call a replica by its IP: answered before CommonMiddleware checks ALLOWED_HOSTS.
    "predictor.web.health.HealthCheckMiddleware",
    # "Page" middleware is Django's or whitenoise's or axes' own, passed over on the JSON API
    # (no session, cookie, login or static file there; it picks its own language): ~0.07 ms of
    # CPU per API call (prcrs_site.page_middleware).
    "prcrs_site.page_middleware.PageStaticFiles",
    "prcrs_site.page_middleware.PageSessions",
    "prcrs_site.page_middleware.PageLocale",
    # The allowed hosts are checked here, on every path but the health checks.
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "prcrs_site.page_middleware.PageAuthentication",
    "prcrs_site.page_middleware.PageMessages",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # An oversize body is refused before any view reads it; this late so that a view may
    # answer it itself, with the user and language known (the admin's upload page does).
    "prcrs_site.security.RequestBodyLimitMiddleware",
    # Last, as django-axes asks: it turns a lockout raised during login into a 429 page.
    "axes.middleware.AxesMiddleware",
]

# django-axes first so a locked-out client is refused before any password is checked. It needs
# the request: tests log in with force_login or client.login(request=HttpRequest(), ...).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_float("AXES_COOLOFF_HOURS", 1.0)  # hours until a lockout lifts
# Lock the address that sent the wrong passwords, never a username on its own: an attacker
# then locks only themselves, and the named admin still logs in from anywhere else. The address
# is the real client's behind a trusted proxy (predictor.access.client_address), not nginx's.
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_CLIENT_IP_CALLABLE = "predictor.access.client_address.client_address"
AXES_COOLOFF_MESSAGE = _("Too many wrong passwords from your address: signing in from it is "
                         "locked for a while. Please try again later.")
AXES_RESET_ON_SUCCESS = True

# Proxies whose X-Forwarded-For is believed (addresses or networks, comma-separated; empty:
# none; "*": any peer, only where nothing but the proxy reaches the site). gunicorn's
# forwarded_allow_ips reads the same variable.
PRCRS_TRUSTED_PROXIES = env_str("PRCRS_TRUSTED_PROXIES", "")
try:
    from predictor.access.client_address import parse_trusted_proxies

    parse_trusted_proxies(PRCRS_TRUSTED_PROXIES)
except ValueError as bad_proxy:
    raise ImproperlyConfigured(str(bad_proxy)) from None

# Rate limits (predictor.access.rate_limits): predictions per client (address, or API key) per fixed
# window, shared by every worker and replica through the database. On unless debugging.
PRCRS_RATE_LIMITS = env_bool("PRCRS_RATE_LIMITS", not DEBUG)
PRCRS_RATE_LIMIT_PREDICTIONS = env_int("PRCRS_RATE_LIMIT_PREDICTIONS", 20000)
PRCRS_RATE_LIMIT_WINDOW_SECONDS = env_int("PRCRS_RATE_LIMIT_WINDOW_SECONDS", 3600)
# API keys (predictor.access.api_keys): optional unless required; a revoked key stops working on
# every replica within PRCRS_API_KEY_CACHE_SECONDS.
PRCRS_API_KEYS_REQUIRED = env_bool("PRCRS_API_KEYS_REQUIRED", False)
PRCRS_API_KEY_CACHE_SECONDS = env_float("PRCRS_API_KEY_CACHE_SECONDS", 5.0)

ROOT_URLCONF = "prcrs_site.urls"
WSGI_APPLICATION = "prcrs_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite file by default; DATABASE_URL=postgres://user:pass@host:5432/name for PostgreSQL.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A fresh clone has no var/ yet; SQLite cannot create the folder of its file.
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL: readers never wait for the writer, and a commit (one per logged prediction) needs no
    # fsync; synchronous=NORMAL stays consistent after a crash. IMMEDIATE avoids lock upgrades
    # failing under several gunicorn workers.
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        "transaction_mode": "IMMEDIATE", "timeout": 20})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Languages: Simplified Chinese first (the default for visitors without a preference).
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
MODELTRANSLATION_DEFAULT_LANGUAGE = "zh-hans"
MODELTRANSLATION_LANGUAGES = ("zh-hans", "en")
MODELTRANSLATION_FALLBACK_LANGUAGES = ("en", "zh-hans")
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "Asia/Shanghai")
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# whitenoise serves compressed files under content-hashed names (collectstatic writes them);
# nothing comes from a CDN, which users in China often cannot reach.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Production behind TLS: each switch is off by default so plain-HTTP development still works.
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
# Probes call the health checks over plain HTTP from inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):  # only behind a proxy that sets it
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
# The site's 403 page (and language) for a form whose CSRF token is missing or stale.
CSRF_FAILURE_VIEW = "prcrs_site.error_responses.csrf_failure"
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# No inline script anywhere (pages and admin load scripts from files), so script-src is strict.
PRCRS_CONTENT_SECURITY_POLICY = env_str(
    "PRCRS_CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'")
PRCRS_CSP_REPORT_ONLY = env_bool("PRCRS_CSP_REPORT_ONLY", False)

# Request bodies: the JSON API takes a few hundred bytes, so 64 KiB is generous; elsewhere the
# admin's model upload (up to PRCRS_MAX_UPLOAD_MB) sets the limit. Over it: 413 before reading.
PRCRS_API_MAX_BODY_BYTES = env_int("PRCRS_API_MAX_BODY_BYTES", 64 * 1024)
PRCRS_MAX_BODY_BYTES = env_int("PRCRS_MAX_BODY_BYTES", 60 * 1024 * 1024)

# PrCRS: where model files live and how inference runs.
PRCRS_BUNDLED_MODELS_DIR = Path(env_str("PRCRS_BUNDLED_MODELS_DIR", str(BASE_DIR / "models_store")))
PRCRS_MODELS_DIR = Path(env_str("PRCRS_MODELS_DIR", str(VAR_DIR / "models")))
# auto | cpu | cuda. auto: single predictions on the CPU (a one-row forward is ~4x slower on
# CUDA, launches and copies), batch forwards of PRCRS_CUDA_BATCH_ROWS rows or more on CUDA where
# there is one (predictor.scoring.device_routing). The crossover was not measured here: 2,000
# rows is a cautious default (a 20,000-row batch is ~3x faster on an H200).
PRCRS_DEVICE = env_str("PRCRS_DEVICE", "auto")
PRCRS_CUDA_BATCH_ROWS = env_int("PRCRS_CUDA_BATCH_ROWS", 2000)
PRCRS_TORCH_THREADS = env_int("PRCRS_TORCH_THREADS", 1)
# Threads for one batch's large forwards (512 rows or more: a cohort sheet, the batch API). On an
# idle machine 2 threads take a third off a 10,000-row batch; on cores busy with other requests
# OpenMP's waiting threads make it slower and slow the others, so more is opt-in (bench/batch.py).
PRCRS_BATCH_TORCH_THREADS = env_int("PRCRS_BATCH_TORCH_THREADS", 1)
# How often a process looks at the database's serving stamp for newly activated models.
PRCRS_STAMP_CHECK_SECONDS = env_float("PRCRS_STAMP_CHECK_SECONDS", 0.25)
# Share of a panel that may be filled from the model's training medians (spec section 2).
PRCRS_MAX_IMPUTED_FRACTION = env_float("PRCRS_MAX_IMPUTED_FRACTION", 0.2)
PRCRS_MIN_VALUES = env_int("PRCRS_MIN_VALUES", 5)
PRCRS_REGISTER_BUNDLED_MODELS = env_bool("PRCRS_REGISTER_BUNDLED_MODELS", True)
# Course and cohort sheets (predictor/sheets): refused above these, before anything is parsed.
PRCRS_SHEET_MAX_ROWS = env_int("PRCRS_SHEET_MAX_ROWS", 10_000)
PRCRS_SHEET_MAX_BYTES = env_int("PRCRS_SHEET_MAX_BYTES", 5 * 1024 * 1024)
# Wall-clock budget for reading one sheet (a hostile file is refused when it runs out).
PRCRS_SHEET_READ_SECONDS = env_float("PRCRS_SHEET_READ_SECONDS", 6.0)
# Form fields held in memory per request. The course page promises a paste of
# PRCRS_SHEET_MAX_BYTES characters, up to 3 bytes each in UTF-8 (Chinese headers), plus the
# carried sheet: Django's default (2.5 MiB) refused a valid 3 MB paste with a generic page.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE",
                                      4 * PRCRS_SHEET_MAX_BYTES)
# Batch API: rows per request, and its body limit (10,000 rows of 42 values fit in ~8 MB).
PRCRS_BATCH_MAX_ROWS = env_int("PRCRS_BATCH_MAX_ROWS", 10_000)
PRCRS_BATCH_MAX_BODY_BYTES = env_int("PRCRS_BATCH_MAX_BODY_BYTES", 16 * 1024 * 1024)

# One JSON object per line on stdout (DJANGO_LOG_FORMAT=text for plain lines while developing).
LOG_FORMAT = env_str("DJANGO_LOG_FORMAT", "text" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "prcrs_site.logging_json.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout",
                             "formatter": "json" if LOG_FORMAT == "json" else "text"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
}
# A thread per worker follows the serving stamp and loads new versions off the request path.
PRCRS_BACKGROUND_REFRESH = env_bool("PRCRS_BACKGROUND_REFRESH", True)
# The admin lives under a configurable path (e.g. an unguessable one in production).
PRCRS_ADMIN_URL = env_str("PRCRS_ADMIN_URL", "admin/").strip("/") + "/"
# Admin uploads: checked in a separate, limited process before anything is recorded.
PRCRS_MAX_UPLOAD_MB = env_float("PRCRS_MAX_UPLOAD_MB", 50)
PRCRS_UPLOAD_CHECK_SECONDS = env_float("PRCRS_UPLOAD_CHECK_SECONDS", 20)
# Address space the checked model may use on top of PyTorch itself (RLIMIT_AS in the child).
PRCRS_UPLOAD_CHECK_MEMORY_MB = env_int("PRCRS_UPLOAD_CHECK_MEMORY_MB", 2048)
# One row per served prediction (lab values only, no identifiers); off with 0.
PRCRS_PREDICTION_LOG = env_bool("PRCRS_PREDICTION_LOG", True)
# Written by a thread per process, in batches, off the request path
# (see predictor.scoring.prediction_log).
PRCRS_PREDICTION_LOG_ASYNC = env_bool("PRCRS_PREDICTION_LOG_ASYNC", True)
PRCRS_PREDICTION_LOG_FLUSH_SECONDS = env_float("PRCRS_PREDICTION_LOG_FLUSH_SECONDS", 0.05)

# Hospital integration (FHIR R4 and CDS Hooks, docs/integration.md).
# Largest FHIR Bundle or hook request accepted (below DATA_UPLOAD_MAX_MEMORY_SIZE, which Django
# applies to request.body): about 30 days x 45 Observations of one patient fit in 2 MiB.
PRCRS_FHIR_MAX_BODY_BYTES = env_int("PRCRS_FHIR_MAX_BODY_BYTES", 2 * 1024 * 1024)
# The service's address as the EHR sees it (behind a proxy): the JWT "aud" of every hook call,
# the base of links in cards. Empty: taken from the request (scheme, Host).
PRCRS_PUBLIC_URL = env_str("PRCRS_PUBLIC_URL", "").rstrip("/")
# Accepted JWT issuers (comma-separated), a JWKS file with their public keys, and optionally a
# JWKS URL per issuer ("issuer=url,issuer=url"). Without issuers every hook call is refused.
PRCRS_CDS_ISSUERS = tuple(i.strip() for i in env_str("PRCRS_CDS_ISSUERS", "").split(",")
                          if i.strip())
PRCRS_CDS_JWKS_FILE = env_str("PRCRS_CDS_JWKS_FILE", "")
PRCRS_CDS_JWKS_URLS = env_str("PRCRS_CDS_JWKS_URLS", "")
# Card indicator: the highest of the three probabilities at or above these is warning/critical.
PRCRS_CDS_WARNING_AT = env_float("PRCRS_CDS_WARNING_AT", 0.10)
PRCRS_CDS_CRITICAL_AT = env_float("PRCRS_CDS_CRITICAL_AT", 0.30)
# Seconds a hook waits for the EHR's FHIR server when prefetch is absent.
PRCRS_CDS_FHIR_TIMEOUT = env_float("PRCRS_CDS_FHIR_TIMEOUT", 3.0)
