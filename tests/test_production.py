"""Production settings, security headers, body limits, health checks, JSON logs, gunicorn config."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib import admin
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

from predictor.scoring.registry import REGISTRY, Snapshot
from predictor.web import health
from prcrs_site.logging_json import JsonFormatter

ROOT = Path(__file__).resolve().parent.parent


def _run_settings(env: dict[str, str], code: str = "import django; django.setup()"):
    """Import the real settings in a fresh interpreter with exactly these DJANGO_* variables."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("DJANGO_", "GUNICORN_"))} | {
        "DJANGO_SETTINGS_MODULE": "prcrs_site.settings"} | env
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True,
                          text=True, timeout=120)


# --- settings refusal and switches -------------------------------------------------------------

def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off():
    result = _run_settings({"DJANGO_DEBUG": "0", "DJANGO_ALLOWED_HOSTS": "prcrs.example.org"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_it_refuses_to_start_without_allowed_hosts_when_debug_is_off():
    result = _run_settings({"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "x" * 50})
    assert result.returncode != 0
    assert "DJANGO_ALLOWED_HOSTS must be set" in result.stderr


def test_it_starts_in_production_mode_with_secure_switches_from_the_environment():
    code = ("import django; django.setup(); from django.conf import settings as s; import json; "
            "print(json.dumps([s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
            "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
            "s.CSRF_TRUSTED_ORIGINS, s.STORAGES['staticfiles']['BACKEND'], "
            "s.LOGGING['handlers']['console']['formatter'], s.SECURE_PROXY_SSL_HEADER]))")
    result = _run_settings({
        "DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "x" * 50,
        "DJANGO_ALLOWED_HOSTS": "prcrs.example.org", "DJANGO_SECURE_COOKIES": "1",
        "DJANGO_SECURE_SSL_REDIRECT": "1", "DJANGO_SECURE_HSTS_SECONDS": "31536000",
        "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "1", "DJANGO_SECURE_PROXY_SSL_HEADER": "1",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://prcrs.example.org"}, code)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [
        False, True, True, True, 31536000, True, ["https://prcrs.example.org"],
        "whitenoise.storage.CompressedManifestStaticFilesStorage", "json",
        ["HTTP_X_FORWARDED_PROTO", "https"]]


def test_development_defaults_need_no_environment():
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE)")
    result = _run_settings({}, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-4:] == ["True", "False", "0", "False"]


# --- security headers --------------------------------------------------------------------------

def _assert_security_headers(response, *, frames: bool = True) -> None:
    csp = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    if frames:  # health checks answer before XFrameOptionsMiddleware; CSP forbids framing anyway
        assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/healthz", "/readyz", "/api/v1/catalogue",
                                 "/en/admin/login/", "/zh-hans/admin/login/"])
def test_every_kind_of_response_carries_the_security_headers(client, url):
    _assert_security_headers(client.get(url), frames=url not in ("/healthz", "/readyz"))


@pytest.mark.django_db
def test_an_api_error_also_carries_the_security_headers(client):
    response = client.post("/api/v1/predict", data="{not json", content_type="application/json")
    assert response.status_code == 400
    _assert_security_headers(response)


_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>\s*\S", re.I)
_EXTERNAL = re.compile(r"""(?:src|href)=["'](?:https?:)?//""", re.I)
_EVENT_HANDLER = re.compile(r"""<[^>]+\son[a-z]+\s*=""", re.I)


def _admin_pages(superuser) -> list[str]:
    pages = ["/en/admin/", "/zh-hans/admin/", "/en/admin/password_change/"]
    for model in admin.site._registry:
        opts = model._meta
        base = f"/en/admin/{opts.app_label}/{opts.model_name}/"
        pages.append(base)
        pages.append(base + "add/")
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            pages.append(f"{base}{first.pk}/change/")
    return pages


def _rendered_admin_pages(admin_user) -> Iterator[tuple[str, str]]:
    client = Client()
    client.force_login(admin_user)
    for url in _admin_pages(admin_user):
        response = client.get(url)
        if response.status_code in (403, 404, 405) or 300 <= response.status_code < 400:
            continue  # e.g. an add page the admin switched off
        assert response.status_code == 200, url
        _assert_security_headers(response)
        yield url, response.content.decode()


@pytest.mark.django_db
def test_the_admin_needs_no_inline_script(admin_user):
    """script-src 'self' holds: no inline script, no inline event handler on any admin page."""
    checked = 0
    for url, html in _rendered_admin_pages(admin_user):
        assert not _INLINE_SCRIPT.search(html), f"inline script on {url}"
        assert not _EVENT_HANDLER.search(html), f"inline event handler on {url}"
        checked += 1
    assert checked >= 3


@pytest.mark.django_db
def test_the_admin_loads_nothing_from_other_sites(admin_user):
    """No CDN: the CSP would block it, and users in China often cannot reach one anyway."""
    for url, html in _rendered_admin_pages(admin_user):
        assert not _EXTERNAL.search(html), f"file from another site on {url}"


# --- request body limit ------------------------------------------------------------------------

@pytest.mark.django_db
def test_an_oversize_api_body_gets_413_json_in_the_requested_language(client, settings):
    body = json.dumps({"values": {"il6": 1}, "horizon": 1, "pad": "x" * 70_000})
    response = client.post("/api/v1/predict?lang=en", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert str(settings.PRCRS_API_MAX_BODY_BYTES) in response.json()["errors"]["__all__"][0]


def test_the_api_limit_is_smaller_than_the_admin_upload_limit(settings):
    from prcrs_site.security import body_limit_for

    assert body_limit_for("/api/v1/predict") == settings.PRCRS_API_MAX_BODY_BYTES == 64 * 1024
    assert body_limit_for("/en/admin/predictor/modelversion/add/") >= 50 * 1024 * 1024


@pytest.mark.django_db
def test_an_oversize_body_elsewhere_gets_413(client, settings):
    settings.PRCRS_MAX_BODY_BYTES = 1000
    response = client.post("/en/admin/login/", data={"username": "x" * 2000, "password": "y"})
    assert response.status_code == 413


# --- health checks -----------------------------------------------------------------------------

def test_healthz_answers_without_touching_the_database(client):
    # No django_db mark: any query would raise here.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_probes_may_address_a_replica_by_its_ip(client):
    """Kubernetes probes send the pod IP as Host, which ALLOWED_HOSTS does not list."""
    assert client.get("/healthz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/readyz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/api/v1/catalogue", HTTP_HOST="10.1.2.3:8000").status_code == 400


def test_the_health_checks_live_at_unprefixed_paths():
    assert reverse("healthz") == "/healthz"
    assert reverse("readyz") == "/readyz"


def test_readyz_is_ready_when_every_active_slot_is_loaded(client, tiny_models):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    assert body["active"] == 18 and len(body["loaded"]) == 18
    assert body["reasons"] == []


@pytest.mark.django_db
def test_readyz_is_ready_with_no_models_installed_at_all(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["active"] == 0


def test_readyz_reports_a_slot_that_failed_to_load(client, tiny_models, monkeypatch):
    loaded = REGISTRY.snapshot()
    broken = Snapshot(loaded.stamp, {k: v for k, v in loaded.models.items() if k != (2, "23")},
                      {(2, "23"): "RuntimeError: not a zip archive"})
    monkeypatch.setattr(REGISTRY, "snapshot", lambda: broken)
    response = client.get("/readyz?lang=en", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 503
    reasons = " ".join(response.json()["reasons"])
    assert "h2-23" in reasons and "not a zip archive" in reasons


def test_readyz_reports_an_active_slot_not_loaded_yet(client, tiny_models, monkeypatch):
    loaded = REGISTRY.snapshot()
    partial = Snapshot(loaded.stamp, {k: v for k, v in loaded.models.items() if k[0] != 3})
    monkeypatch.setattr(REGISTRY, "snapshot", lambda: partial)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "h3-1234" in " ".join(response.json()["reasons"])


def test_readyz_reports_an_unreachable_database(client, tiny_models, monkeypatch):
    REGISTRY.snapshot()

    def down():
        raise OperationalError("connection refused")

    monkeypatch.setattr(health, "_active_slots", down)
    response = client.get("/readyz", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert "connection refused" in body["reasons"][0]
    assert len(body["loaded"]) == 18  # still serving what it has


# --- structured logging ------------------------------------------------------------------------

def _record(name="predictor.prediction_log", msg="prediction not stored", args=(), **extra):
    record = logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_log_lines_carry_the_extra_fields():
    line = JsonFormatter().format(_record(prediction={"horizon": 1, "values": {"il6": 48.0}},
                                          channel="api"))
    entry = json.loads(line)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "predictor.prediction_log"
    assert entry["message"] == "prediction not stored"
    assert entry["prediction"] == {"horizon": 1, "values": {"il6": 48.0}}
    assert entry["channel"] == "api"
    assert "\n" not in line


def test_json_log_lines_keep_exceptions_on_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record(msg="failed")
        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in entry["exception"]


def test_gunicorn_access_lines_become_named_fields():
    atoms = {"h": "10.0.0.7", "m": "POST", "U": "/api/v1/predict", "q": "", "H": "HTTP/1.1",
             "s": "200", "B": "512", "f": "-", "a": "curl/8", "L": "0.001234", "M": "1"}
    entry = json.loads(JsonFormatter().format(_record("gunicorn.access", "%(h)s", (atoms,))))
    assert entry | {"time": None, "pid": None} == {
        "time": None, "pid": None, "level": "WARNING", "logger": "gunicorn.access",
        "message": "request", "remote": "10.0.0.7", "method": "POST", "path": "/api/v1/predict",
        "protocol": "HTTP/1.1", "status": 200, "bytes": 512, "user_agent": "curl/8",
        "duration_ms": 1.234}


# --- gunicorn configuration --------------------------------------------------------------------

def _gunicorn_config(env: dict[str, str]) -> dict:
    code = ("import runpy, json; c = runpy.run_path('gunicorn.conf.py'); "
            "print(json.dumps({k: c[k] for k in ('workers', 'threads', 'bind', 'timeout', "
            "'graceful_timeout', 'max_requests', 'max_requests_jitter', 'preload_app', "
            "'worker_class', 'access_log_format')} | {'torch': __import__('os').environ"
            "['PRCRS_TORCH_THREADS'], 'hook': callable(c.get('post_worker_init')), "
            "'torch_imported': 'torch' in __import__('sys').modules}))")
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("GUNICORN_", "PRCRS_TORCH"))} | env
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_gunicorn_defaults_fit_two_cores_and_load_models_only_in_workers():
    config = _gunicorn_config({})
    # One torch thread per worker, at most two workers per core of this 2-core machine.
    assert int(config["torch"]) == 1 and config["workers"] <= 4
    assert config["threads"] >= 2 and config["worker_class"] == "gthread"
    assert config["bind"] == ["127.0.0.1:8000"]
    assert config["preload_app"] is False
    assert config["hook"] is True
    assert config["torch_imported"] is False  # the master never imports PyTorch
    assert config["max_requests"] > 0 and config["max_requests_jitter"] > 0
    assert config["graceful_timeout"] > 0 and config["timeout"] > 0
    assert "%(M)s" in config["access_log_format"]


def test_gunicorn_settings_come_from_the_environment():
    config = _gunicorn_config({"GUNICORN_WORKERS": "5", "GUNICORN_THREADS": "2",
                               "GUNICORN_BIND": "0.0.0.0:9000", "GUNICORN_TIMEOUT": "12",
                               "PRCRS_TORCH_THREADS": "2"})
    assert (config["workers"], config["threads"], config["bind"], config["timeout"],
            config["torch"]) == (5, 2, ["0.0.0.0:9000"], 12, "2")


def test_gunicorn_accepts_the_configuration():
    result = subprocess.run([str(Path(sys.executable).with_name("gunicorn")), "--check-config",
                             "-c", "gunicorn.conf.py"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


def test_djangos_deployment_checklist_passes_with_the_tls_switches_on():
    result = _run_settings({
        "DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "k9!Qz" * 12,
        "DJANGO_ALLOWED_HOSTS": "prcrs.example.org", "DJANGO_SECURE_COOKIES": "1",
        "DJANGO_SECURE_SSL_REDIRECT": "1", "DJANGO_SECURE_HSTS_SECONDS": "31536000",
        "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "1", "DJANGO_SECURE_HSTS_PRELOAD": "1"},
        "import sys; from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_fresh_checkout_migrates_without_creating_any_folder_by_hand(tmp_path):
    """`make serve` on a new clone: the default SQLite file's folder does not exist yet."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    var_dir = tmp_path / "not-yet" / "var"
    env = {**os.environ, "PRCRS_VAR_DIR": str(var_dir), "PRCRS_REGISTER_BUNDLED_MODELS": "0",
           "DJANGO_SETTINGS_MODULE": "prcrs_site.settings"}
    env.pop("DATABASE_URL", None)
    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=repo,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (var_dir / "db.sqlite3").is_file()
