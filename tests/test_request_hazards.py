"""Requests that used to get a 500 (or the wrong body) from the real server, now 4xx in the
site's usual shape: gunicorn on loopback with DJANGO_DEBUG=0, one server for the whole module.

JSON ``{"errors": {"__all__": [...]}}`` on the API (and the health checks), the site's page
elsewhere; messages in the requested language.
"""

from __future__ import annotations

import html
import http.client
import json
import os
import re
import socket
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest

from bench.serving import PYTHON, ROOT, LoopbackSite, pattern_values, write_tiny_models

pytestmark = pytest.mark.slow

BODY_LIMIT = 300_000  # PRCRS_MAX_BODY_BYTES for this server: small, so an oversize upload is quick
ADMIN = ("hazard-admin", "hazard-" + "p" * 12)
CYTOKINES = {"il2": "3.1", "il4": "2.5", "il6": "48", "il10": "7.2", "tnf_alpha": "4.4",
             "ifn_gamma": "12", "il17a": "6"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    work = tmp_path_factory.mktemp("hazards")
    write_tiny_models(work / "bundle")
    server = LoopbackSite(work, work / "bundle", workers=1, threads=4,
                          env={"PRCRS_MAX_BODY_BYTES": str(BODY_LIMIT),
                               "GUNICORN_ACCESS_LOG": ""})
    with server:
        subprocess.run([str(PYTHON), "manage.py", "createsuperuser", "--noinput",
                        "--username", ADMIN[0], "--email", "admin@example.org"], cwd=ROOT,
                       env=server.env | {"DJANGO_SUPERUSER_PASSWORD": ADMIN[1]},
                       check=True, capture_output=True, timeout=120)
        yield server


class Answer:
    def __init__(self, response: http.client.HTTPResponse):
        self.status = response.status
        self.headers = response.headers
        self.body = response.read()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> dict:
        assert self.headers.get("Content-Type", "").startswith("application/json"), self.text
        return json.loads(self.body)

    def cookies(self) -> dict[str, str]:
        return dict(re.match(r"([^=]+)=([^;]*)", c).groups()
                    for c in self.headers.get_all("Set-Cookie") or [])


def call(site: LoopbackSite, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> Answer:
    conn = site.connection()
    try:
        conn.request(method, path, body=body, headers=headers or {})
        return Answer(conn.getresponse())
    finally:
        conn.close()


def is_site_page(answer: Answer) -> bool:
    return (answer.headers.get("Content-Type", "").startswith("text/html")
            and "PrCRS" in answer.text and "<main" in answer.text)


def csrf_cookie(site: LoopbackSite, path: str) -> str:
    token = call(site, "GET", path).cookies().get("csrftoken")
    assert token, f"no CSRF cookie from {path}"
    return token


def post_form(site: LoopbackSite, path: str, body: bytes, content_type: str,
              token: str) -> Answer:
    """POST ``body`` to a page as its own form would: with the CSRF cookie and a same-site
    Referer, so what is tested is the body, not the CSRF check."""
    return call(site, "POST", path, body, {
        "Content-Type": content_type, "Cookie": f"csrftoken={token}",
        "Referer": f"http://127.0.0.1:{site.port}{path}"})


def admin_session(site: LoopbackSite, language: str) -> dict[str, str]:
    """Cookie header of a logged-in superuser, through the real login form."""
    login = f"/{language}/admin/login/"
    token = csrf_cookie(site, login)
    form = f"csrfmiddlewaretoken={token}&username={ADMIN[0]}&password={ADMIN[1]}&next=/"
    answer = call(site, "POST", login, form.encode(), {
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={token}",
        "Referer": f"http://127.0.0.1:{site.port}{login}"})
    assert answer.status == 302, answer.text[:500]
    cookies = {"csrftoken": token} | answer.cookies()
    assert "sessionid" in cookies
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
            "X-CSRFToken": cookies["csrftoken"]}


# --- headers Django could not build a request from ----------------------------------------------

BROKEN_CONTENT_TYPE = "text/plain; charset*=xyz''a"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/api/v1/catalogue"])
def test_an_unreadable_content_type_gets_a_json_400_on_json_addresses(site, path):
    answer = call(site, "GET", path, headers={"Content-Type": BROKEN_CONTENT_TYPE,
                                              "Accept-Language": "en"})
    assert answer.status == 400
    assert answer.json() == {"errors": {"__all__": ["The Content-Type header could not be read."]}}


@pytest.mark.parametrize("path", ["/en/", "/zh-hans/", "/en/models/", "/en/admin/login/", "/"])
def test_an_unreadable_content_type_gets_the_400_page_elsewhere(site, path):
    answer = call(site, "GET", path, headers={"Content-Type": BROKEN_CONTENT_TYPE})
    assert answer.status == 400
    assert is_site_page(answer)


def test_the_400_page_is_in_the_language_of_the_address(site):
    answer = call(site, "POST", "/zh-hans/", b"il6=1",
                  headers={"Content-Type": BROKEN_CONTENT_TYPE})
    assert answer.status == 400
    assert '<html lang="zh-hans">' in answer.text
    assert "无法读取 Content-Type 请求头" in answer.text


@pytest.mark.parametrize("codec", ["base64", "hex", "rot13", "zlib", "bz2", "uu", "quopri",
                                   "utf-16", "utf-32", "punycode", "utf-7"])
@pytest.mark.parametrize("path", ["/api/v1/catalogue?lang=en", "/en/?x=1", "/healthz?x=1"])
def test_a_charset_that_is_no_text_encoding_gets_a_400(site, codec, path):
    answer = call(site, "GET", path, headers={"Content-Type": f"text/plain; charset={codec}",
                                              "Accept-Language": "en"})
    assert answer.status == 400, (codec, path, answer.text[:300])
    if path.startswith("/en/"):
        assert is_site_page(answer)
    else:
        assert answer.json()["errors"]["__all__"] == [
            "The Content-Type header names a character set the site cannot read; send UTF-8."]


def test_a_real_text_charset_is_still_served(site):
    answer = call(site, "GET", "/api/v1/catalogue?lang=en",
                  headers={"Content-Type": "text/plain; charset=latin-1"})
    assert answer.status == 200
    assert answer.json()["language"] == "en"


# --- a form posted in a charset Django refuses ---------------------------------------------------

@pytest.mark.parametrize("path, phrase", [
    ("/en/", "the site reads forms only in UTF-8"),
    ("/zh-hans/", "本站只接受 UTF-8 编码的表单"),
    ("/en/admin/login/", "the site reads forms only in UTF-8"),
    ("/zh-hans/admin/login/", "本站只接受 UTF-8 编码的表单"),
])
def test_a_form_posted_as_latin_1_with_the_csrf_cookie_gets_a_400_page(site, path, phrase):
    token = csrf_cookie(site, path)
    answer = post_form(site, path, f"csrfmiddlewaretoken={token}&il6=1".encode(),
                       "application/x-www-form-urlencoded; charset=latin-1", token)
    assert answer.status == 400
    assert is_site_page(answer)
    assert phrase in answer.text


# --- too many query parameters on the API --------------------------------------------------------

@pytest.mark.parametrize("language, message", [
    ("en", "The request has too many fields or parameters."),
    ("zh-hans", "请求中的字段或参数过多。"),
])
def test_more_than_a_thousand_query_parameters_get_the_json_errors_body(site, language, message):
    query = f"lang={language}&" + "a&" * 1001
    for method, path in (("GET", "/api/v1/catalogue"), ("POST", "/api/v1/predict")):
        answer = call(site, method, f"{path}?{query}", b"{}",
                      {"Content-Type": "application/json"})
        assert answer.status == 400
        assert answer.json() == {"errors": {"__all__": [message]}}


# --- errors never come from a handler that raises ------------------------------------------------

def test_an_unknown_api_address_gets_a_json_404(site):
    answer = call(site, "GET", "/api/v1/nothing-here?lang=en")
    assert answer.status == 404
    assert answer.json() == {"errors": {"__all__": ["There is nothing at this address."]}}


def test_an_unknown_page_gets_the_site_404_page(site):
    answer = call(site, "GET", "/en/nothing-here/")
    assert answer.status == 404
    assert is_site_page(answer) and "There is nothing at this address." in answer.text


def test_a_method_a_page_does_not_take_gets_a_405_with_a_body(site):
    answer = call(site, "POST", "/healthz?lang=en", b"")
    assert answer.status == 405
    assert answer.json()["errors"]["__all__"]


# --- the request-size limit on the admin's model upload -------------------------------------------

def _multipart(fields: dict[str, str], file_bytes: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="model_file"; '
                 f'filename="big.pt"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
                 + file_bytes + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _refusals(site: LoopbackSite) -> list[dict]:
    with sqlite3.connect(site.db_dir / "db.sqlite3") as db:
        rows = db.execute("SELECT action, detail FROM predictor_auditevent "
                          "WHERE detail LIKE '%request_too_large%' ORDER BY id").fetchall()
    return [{"action": action, **json.loads(detail)} for action, detail in rows]


@pytest.mark.parametrize("language, phrase", [
    ("en", "The upload was refused before it was read"),
    ("zh-hans", "上传在读取之前即被拒绝"),
])
def test_an_upload_over_the_request_limit_gets_the_upload_page_and_an_audit_entry(
        site, language, phrase):
    session = admin_session(site, language)
    before = len(_refusals(site))
    path = f"/{language}/admin/predictor/modelversion/add/"
    body, content_type = _multipart({"csrfmiddlewaretoken": session["X-CSRFToken"],
                                     "horizon": "1", "combination": "4"},
                                    os.urandom(BODY_LIMIT + 50_000))
    answer = call(site, "POST", path, body, {"Content-Type": content_type, **session,
                                             "Referer": f"http://127.0.0.1:{site.port}{path}"})
    assert answer.status == 413
    assert "modelversion_upload_form" in answer.text  # the upload page, ready for another try
    assert phrase in answer.text
    refusals = _refusals(site)
    assert len(refusals) == before + 1
    assert refusals[-1]["action"] == "validation_failed"
    assert refusals[-1]["size"] == len(body)


def test_an_oversize_post_elsewhere_gets_the_413_page(site):
    answer = call(site, "POST", "/en/", b"il6=" + b"1" * (BODY_LIMIT + 10),
                  {"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status == 413
    assert is_site_page(answer)
    assert f"at most {BODY_LIMIT} bytes" in answer.text


# --- chunked request bodies ----------------------------------------------------------------------

def _chunked(site: LoopbackSite, path: str, chunks: list[bytes]) -> Answer:
    conn = site.connection()
    try:
        conn.request("POST", path, body=iter(chunks), encode_chunked=True,
                     headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        return Answer(conn.getresponse())
    finally:
        conn.close()


def test_a_valid_chunked_json_body_is_answered_like_any_other(site):
    body = json.dumps({"values": pattern_values("4"), "horizon": 1}).encode()
    plain = call(site, "POST", "/api/v1/predict?lang=en", body,
                 {"Content-Type": "application/json"})
    chunked = _chunked(site, "/api/v1/predict?lang=en", [body[:10], body[10:40], body[40:]])
    assert plain.status == chunked.status == 200, chunked.text
    assert chunked.json()["probability"] == plain.json()["probability"]


def test_a_chunked_body_over_the_api_limit_gets_413(site):
    block = b" " * 16_384  # JSON whitespace: valid, but too much of it
    answer = _chunked(site, "/api/v1/predict?lang=en", [b"{"] + [block] * 5 + [b"}"])
    assert answer.status == 413
    assert "at most 65536 bytes" in answer.json()["errors"]["__all__"][0]


def test_a_chunked_body_that_breaks_off_gets_no_5xx(site):
    with socket.create_connection(("127.0.0.1", site.port), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/predict?lang=en HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"zz\r\n{}\r\n0\r\n\r\n")  # "zz" is no chunk size
        reply = sock.recv(65536)
    status = int(reply.split(b" ", 2)[1]) if reply else 0
    assert reply == b"" or 400 <= status < 500, reply[:200]


# --- 1,234: two readings, refused with both -------------------------------------------------------

@pytest.mark.parametrize("language, message", [
    ("en", "1,234 could mean 1234 or 1.234: write 1234 or 1.234."),
    ("zh-hans", "1,234 可能是 1234，也可能是 1.234：请写成 1234 或 1.234。"),
])
def test_the_api_refuses_1_234_with_both_readings(site, language, message):
    values = pattern_values("4") | {"il6": "1,234"}
    answer = call(site, "POST", f"/api/v1/predict?lang={language}",
                  json.dumps({"values": values, "horizon": 1}).encode(),
                  {"Content-Type": "application/json"})
    assert answer.status == 400
    assert answer.json()["errors"]["il6"] == [message]


def test_the_api_takes_a_json_number_as_it_is(site):
    values = pattern_values("4") | {"il6": 1234}
    answer = call(site, "POST", "/api/v1/predict?lang=en",
                  json.dumps({"values": values, "horizon": 1}).encode(),
                  {"Content-Type": "application/json"})
    assert answer.status == 200, answer.text


@pytest.mark.parametrize("language, message", [
    ("en", "1,234 could mean 1234 or 1.234: write 1234 or 1.234."),
    ("zh-hans", "1,234 可能是 1234，也可能是 1.234：请写成 1234 或 1.234。"),
])
def test_the_form_refuses_1_234_with_both_readings(site, language, message):
    path = f"/{language}/"
    token = csrf_cookie(site, path)
    fields = CYTOKINES | {"il6": "1,234", "horizon": "1", "csrfmiddlewaretoken": token}
    form = "&".join(f"{k}={v}" for k, v in fields.items()).replace(",", "%2C")
    answer = post_form(site, path, form.encode(), "application/x-www-form-urlencoded", token)
    assert answer.status in (200, 400)
    assert message in html.unescape(answer.text)


# --- found by bench/fuzz.py: a charset makes Django parse the query string while it builds the
# request, so a query string that fails to parse was a 500 there too ------------------------------

@pytest.mark.parametrize("content_type", ["text/plain; charset=utf-8",
                                          "application/json; charset=gb18030",
                                          'multipart/form-data; boundary=x; charset="utf-8"'])
def test_too_many_parameters_with_a_declared_charset_get_a_400(site, content_type):
    for path in ("/readyz", "/api/v1/catalogue", "/en/models/"):
        answer = call(site, "GET", f"{path}?" + "a&" * 1001,
                      headers={"Content-Type": content_type, "Accept-Language": "en"})
        assert answer.status == 400, (path, answer.text[:300])
        assert "too many fields or parameters" in answer.text


def test_a_query_string_the_declared_charset_refuses_gets_a_400(site):
    answer = call(site, "GET", "/healthz?%E4%AB%B0=1",
                  headers={"Content-Type": "text/plain; charset=idna", "Accept-Language": "en"})
    assert answer.status == 400
    # Django reports any ValueError of the parse as too many fields: either message is right.
    assert answer.json()["errors"]["__all__"][0] in (
        "The query string could not be read.", "The request has too many fields or parameters.")


@pytest.mark.parametrize("language, phrase", [
    ("en", "Reload the page and send it again."),
    ("zh-hans", "请重新加载页面后再次提交。"),
])
def test_a_form_without_its_csrf_token_gets_the_site_403_page(site, language, phrase):
    answer = call(site, "POST", f"/{language}/", b"il6=1",
                  {"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status == 403
    assert is_site_page(answer) and phrase in answer.text


# --- found by sampling the fuzzer's refusals: a multipart form without a usable boundary got
# the generic "could not be read" page; it now says what is wrong with it ------------------------

@pytest.mark.parametrize("language, phrase", [
    ("en", "names no valid boundary"),
    ("zh-hans", "没有有效的分隔符"),
])
def test_a_multipart_form_without_a_usable_boundary_is_told_so(site, language, phrase):
    path = f"/{language}/"
    token = csrf_cookie(site, path)
    for content_type in ("multipart/form-data", "multipart/form-data; boundary=",
                         "multipart/form-data; boundary=\"a b c \""):
        answer = post_form(site, path, f"csrfmiddlewaretoken={token}&il6=1".encode(),
                           content_type, token)
        assert answer.status == 400, (content_type, answer.text[:300])
        assert is_site_page(answer) and phrase in html.unescape(answer.text), content_type
    answer = call(site, "POST", f"/api/v1/predict/batch?lang={language}", b"--x--\r\n",
                  {"Content-Type": "multipart/form-data; boundary="})
    assert answer.status == 400
    assert phrase in answer.json()["errors"]["__all__"][0]


@pytest.mark.parametrize("language, phrase", [
    ("en", "The Host header names an address this site does not answer to"),
    ("zh-hans", "Host 请求头指定的地址不属于本站"),
])
def test_a_host_the_site_does_not_serve_is_named_as_the_problem(site, language, phrase):
    for path in (f"/{language}/", f"/api/v1/catalogue?lang={language}"):
        conn = site.connection()
        try:
            conn.putrequest("GET", path, skip_host=True)
            conn.putheader("Host", "evil.example")
            conn.endheaders()
            answer = Answer(conn.getresponse())
        finally:
            conn.close()
        assert answer.status == 400, (path, answer.text[:300])
        assert phrase in html.unescape(answer.text), (path, answer.text[:300])
