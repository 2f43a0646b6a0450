"""The JSON API skips the middleware only pages need; pages keep all of it, and the checks an
API call needs (allowed hosts, security headers, body limit) still run on it."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from predictor.catalogue import FACTORS_BY_KEY, combination_factor_keys

PREDICT = "/api/v1/predict"


def _body() -> str:
    values = {k: sum(FACTORS_BY_KEY[k].typical) / 2 for k in combination_factor_keys("4")}
    return json.dumps({"values": values, "horizon": 1})


def test_an_api_call_gets_no_session_user_or_cookie_and_still_its_headers(tiny_models):
    client = Client(enforce_csrf_checks=True)
    response = client.post(PREDICT, _body(), content_type="application/json",
                           HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    request = response.wsgi_request
    assert not hasattr(request, "session") and not hasattr(request, "user")
    assert not response.cookies
    # Kept for the API: the language it answers in, the Vary header caches need, security.
    assert response["Content-Language"] == "en"
    assert "Accept-Language" in response["Vary"] and "Cookie" not in response["Vary"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" in response


def test_an_api_call_for_a_host_not_allowed_is_still_refused(tiny_models):
    response = Client().post(PREDICT, _body(), content_type="application/json",
                             HTTP_HOST="evil.example")
    assert response.status_code == 400


def test_an_api_error_answers_in_the_language_asked_without_the_locale_middleware(db):
    response = Client().post(PREDICT + "?lang=zh-hans", "not json",
                             content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert response["Content-Language"] == "zh-hans"


@pytest.mark.parametrize("path", ["/en/", "/zh-hans/"])
def test_pages_keep_sessions_users_language_and_csrf(path, db):
    client = Client(enforce_csrf_checks=True)
    page = client.get(path)
    assert page.status_code == 200
    assert hasattr(page.wsgi_request, "session") and hasattr(page.wsgi_request, "user")
    assert page["Content-Language"] == path.strip("/")
    assert "csrftoken" in page.cookies
    # A post without the token is refused on a page, as before.
    assert client.post(path, {"horizon": "1"}).status_code == 403
