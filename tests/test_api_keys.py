"""API keys against the real server with keys required: issued and revoked through the admin
over HTTP, sent as ``Authorization: Bearer`` or ``X-API-Key``; per-key limits and usage counts.
Keys-optional behaviour (the default) runs in-process on the real test database.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import time

import pytest

from bench.serving import PYTHON, ROOT, LoopbackSite, pattern_values, write_tiny_models
from predictor.access.api_keys import forget_cached_keys, issue_key, revoke_key
from predictor.access.rate_limits import LIMITER
from predictor.models import ApiKey, AuditEvent
from tests.conftest import CYTOKINES
from tests.http_session import HttpSession

VALUES = pattern_values("4")
ADMIN_PASSWORD = "a-long-test-password-9241"
CACHE_SECONDS = 0.5


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    work = tmp_path_factory.mktemp("api-keys")
    write_tiny_models(work / "bundle")
    server = LoopbackSite(work, work / "bundle", workers=2, threads=2, env={
        "PRCRS_API_KEYS_REQUIRED": "1", "PRCRS_RATE_LIMITS": "1",
        "PRCRS_RATE_LIMIT_PREDICTIONS": "1000",
        "PRCRS_API_KEY_CACHE_SECONDS": str(CACHE_SECONDS)})
    with server:
        subprocess.run([str(PYTHON), "manage.py", "createsuperuser", "--noinput",
                        "--username", "keeper", "--email", "keeper@example.org"], cwd=ROOT,
                       env=server.env | {"DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD},
                       check=True, capture_output=True, timeout=120)
        yield server


@pytest.fixture(scope="module")
def admin(site):
    session = HttpSession(site.port, source="127.0.0.40")
    assert session.admin_login("keeper", ADMIN_PASSWORD).status == 302
    return session


def _issue(admin: HttpSession, name: str, limit: int | str = "") -> tuple[str, int, str]:
    """(key, id, the page that showed it), issued on the admin's add page."""
    page = admin.post_form("/en/admin/predictor/apikey/add/",
                           {"name": name, "limit": str(limit), "_save": "Save"})
    assert page.status == 200, page.text[-3000:]
    key = re.search(r'<code id="issued-api-key">([^<]+)</code>', page.text).group(1)
    key_id = int(re.search(r"/admin/predictor/apikey/(\d+)/change/", page.text).group(1))
    return key, key_id, page.text


def _db(site: LoopbackSite, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(site.db_dir / "db.sqlite3") as db:
        return db.execute(sql, params).fetchall()


def _predict(site, headers=None, source="127.0.0.41", horizon=1, lang="en"):
    return HttpSession(site.port, source=source).post_json(
        f"/api/v1/predict?lang={lang}", {"values": VALUES, "horizon": horizon}, headers=headers)


@pytest.mark.slow
@pytest.mark.parametrize(("lang", "message"), [
    ("en", "This API needs a key"), ("zh-hans", "此 API 需要密钥")])
def test_without_a_key_the_api_refuses_with_401_and_says_how_to_send_one(site, lang, message):
    for reply in (_predict(site, lang=lang),
                  HttpSession(site.port).get(f"/api/v1/catalogue?lang={lang}")):
        assert reply.status == 401
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
        assert message in reply.json()["errors"]["__all__"][0]


@pytest.mark.slow
def test_the_public_form_needs_no_key_even_when_the_api_does(site):
    reply = HttpSession(site.port, source="127.0.0.42").post_form(
        "/en/", {**CYTOKINES, "horizon": "1"})
    assert reply.status == 200 and "This API needs a key" not in reply.text


@pytest.mark.slow
def test_an_issued_key_is_shown_once_stored_only_as_its_hash_and_audited(site, admin):
    key, key_id, page = _issue(admin, "Hospital LIS")
    assert key.startswith("prcrs_") and len(key) >= 40
    assert "never be shown again" in page
    stored = _db(site, "SELECT key_hash, prefix, name FROM predictor_apikey WHERE id = ?", key_id)
    assert stored == [(hashlib.sha256(key.encode()).hexdigest(), key[:10], "Hospital LIS")]
    assert key.encode() not in (site.db_dir / "db.sqlite3").read_bytes()
    change_page = admin.get(f"/en/admin/predictor/apikey/{key_id}/change/")
    assert change_page.status == 200 and key not in change_page.text
    audit = _db(site, "SELECT action, detail FROM predictor_auditevent WHERE action LIKE 'api%'")
    assert ("api_key_issued", key_id) in [(a, json.loads(d)["api_key"]) for a, d in audit]


@pytest.mark.slow
def test_a_valid_key_works_as_bearer_token_or_x_api_key(site, admin):
    key, _id, _page = _issue(admin, "Integrator A")
    assert _predict(site, {"Authorization": f"Bearer {key}"}).status == 200
    assert _predict(site, {"X-API-Key": key}).status == 200
    assert HttpSession(site.port).get("/api/v1/catalogue",
                                      headers={"X-API-Key": key}).status == 200


@pytest.mark.slow
@pytest.mark.parametrize("headers", [
    {"Authorization": "Bearer prcrs_not-a-key-anyone-was-given"},
    {"X-API-Key": "prcrs_wrong"},
])
def test_a_wrong_key_is_refused_with_401(site, headers):
    reply = _predict(site, headers)
    assert reply.status == 401
    assert 'error="invalid_token"' in reply.headers["WWW-Authenticate"]
    assert "not valid" in reply.json()["errors"]["__all__"][0]


@pytest.mark.slow
def test_a_revoked_key_is_refused_within_the_cache_time_and_the_revocation_is_audited(site, admin):
    key, key_id, _page = _issue(admin, "Integrator to revoke")
    assert _predict(site, {"X-API-Key": key}).status == 200
    changelist = "/en/admin/predictor/apikey/"
    reply = admin.post_form(changelist, {"action": "revoke_selected", "_selected_action":
                                         str(key_id), "index": "0", "select_across": "0"})
    assert reply.status == 302
    assert "revoked" in admin.get(changelist).text
    time.sleep(CACHE_SECONDS + 0.2)  # both workers' caches have expired
    statuses = {_predict(site, {"X-API-Key": key}).status for _ in range(6)}
    assert statuses == {401}
    assert _db(site, "SELECT revoked_at IS NOT NULL FROM predictor_apikey WHERE id = ?",
               key_id) == [(1,)]
    actions = [json.loads(d)["api_key"] for (d,) in _db(
        site, "SELECT detail FROM predictor_auditevent WHERE action = 'api_key_revoked'")]
    assert key_id in actions


@pytest.mark.slow
def test_a_key_with_its_own_limit_is_refused_over_it_and_usage_shows_in_the_admin(site, admin):
    key, key_id, _page = _issue(admin, "Small integrator", limit=4)
    headers = {"Authorization": f"Bearer {key}"}
    # The key's budget follows the key, from whichever address it is sent.
    statuses = [_predict(site, headers, source=f"127.0.0.{50 + i}").status for i in range(6)]
    assert statuses == [200] * 4 + [429] * 2
    refused = _predict(site, headers)
    assert int(refused.headers["Retry-After"]) > 0
    assert "at most 4 per hour" in refused.json()["errors"]["__all__"][0]
    # The address itself still has its own (site) budget without the key... but keys are
    # required here, so the same address with another key is served.
    other, _other_id, _page = _issue(admin, "Another integrator")
    assert _predict(site, {"X-API-Key": other}, source="127.0.0.50").status == 200
    # Usage reaches the database within a second or so (written in batches, off the request).
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        usage = _db(site, "SELECT predictions, requests, refused, last_used_at IS NOT NULL "
                          "FROM predictor_apikey WHERE id = ?", key_id)
        if usage == [(4, 4, 3, 1)]:
            break
        time.sleep(0.2)
    assert usage == [(4, 4, 3, 1)]
    listing = admin.get("/en/admin/predictor/apikey/?q=Small").text
    row = re.search(r"Small integrator.*?</tr>", listing, flags=re.S).group(0)
    cells = re.findall(r'<td class="field-(\w+)[^"]*">([^<]*)</td>', row)
    assert ("predictions", "4") in cells and ("refused", "3") in cells, cells


# --- keys optional (the default), in-process on the real test database ----------------------

@pytest.fixture(autouse=True)
def _fresh_limiter():
    yield
    LIMITER.reset()  # no usage left to write after the test's database is gone


def _post(client, headers: dict[str, str] | None = None):
    return client.post("/api/v1/predict?lang=en", json.dumps({"values": VALUES, "horizon": 1}),
                       content_type="application/json", headers=headers or {})


@pytest.mark.django_db
def test_by_default_keys_are_optional_but_a_wrong_or_revoked_key_is_still_refused(
        client, tiny_models, settings, admin_user):
    settings.PRCRS_API_KEYS_REQUIRED = False
    forget_cached_keys()
    assert _post(client).status_code == 200
    assert _post(client, {"X-API-Key": "prcrs_made-up"}).status_code == 401
    api_key, key = issue_key(name="LIS", limit=None, user=admin_user)
    assert _post(client, {"Authorization": f"Bearer {key}"}).status_code == 200
    assert revoke_key(api_key=api_key, user=admin_user) is True
    assert revoke_key(api_key=api_key, user=admin_user) is False  # once is enough
    assert _post(client, {"Authorization": f"Bearer {key}"}).status_code == 401
    actions = list(AuditEvent.objects.filter(user=admin_user).values_list("action", flat=True))
    assert sorted(actions) == ["api_key_issued", "api_key_revoked"]
    assert ApiKey.objects.get().key_hash == hashlib.sha256(key.encode()).hexdigest()


@pytest.mark.django_db
def test_a_non_bearer_authorization_header_is_not_taken_for_a_key(client, tiny_models, settings):
    settings.PRCRS_API_KEYS_REQUIRED = True
    forget_cached_keys()
    reply = _post(client, {"Authorization": "Basic dXNlcjpwYXNz"})
    assert reply.status_code == 401 and "needs a key" in reply.json()["errors"]["__all__"][0]
