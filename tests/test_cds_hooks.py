"""The EHR played against the real site under gunicorn (issue 17): CDS Hooks discovery, the
patient-view hook with prefetch, the hook without prefetch (the site queries a real FHIR server
on loopback: tests/fhir_server, node-fhir-server-core installed from its lockfile), bad tokens,
and a FHIR bundle with a wrong unit. Keys are real RSA keys; tokens are signed with PyJWT."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fhir.resources.R4B.operationoutcome import OperationOutcome

from bench.serving import ROOT, LoopbackSite, write_tiny_models
from tests.conftest import CYTOKINES
from tests.fhir_bundles import bundle, day_bundle, observation
from tests.http_session import HttpSession

SERVER_DIR = ROOT / "tests" / "fhir_server"
ISSUER = "https://ehr.example.org"
PUBLISHER = "https://ehr-with-jwks-url.example.org"
TOKEN = "ehr-access-token-" + uuid.uuid4().hex
VALUES = {k: float(v) for k, v in CYTOKINES.items()}
SERVICE = "/cds-services/prcrs-severe-crs"


def _need_node() -> str:
    node = shutil.which("node")
    installed = (SERVER_DIR / "node_modules" / "@asymmetrik" / "node-fhir-server-core").exists()
    if node and installed:
        return node
    why = ("node is not installed" if not node else
           "tests/fhir_server/node_modules is missing (run make fhir-test-server)")
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI: {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": "ehr-1", "alg": "RS384", "use": "sig"})
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    published = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {"private": private, "other": other, "published": published, "jwks": path}


@pytest.fixture(scope="module")
def fhir_server(tmp_path_factory):
    node = _need_node()
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    at = now - dt.timedelta(hours=2)
    data = bundle([observation(k, v, at=at, patient="Patient/p7") for k, v in VALUES.items()]
                  + [observation("crs_grade", 1, at=at, patient="Patient/p7"),
                     observation("day", 5, at=at, patient="Patient/p7")])
    path = tmp_path_factory.mktemp("fhir") / "data.json"
    path.write_text(json.dumps(data))
    process = subprocess.Popen([node, "server.js"], cwd=SERVER_DIR, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "FHIR_DATA": str(path), "FHIR_TOKEN": TOKEN,
                                    "PORT": "0"})
    line = process.stdout.readline()
    if not line.startswith("listening"):
        process.kill()
        pytest.fail(f"the FHIR server did not start: {line}{process.stdout.read()[:2000]}")
    yield f"http://127.0.0.1:{int(line.split()[1])}"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def published_keys(keys):
    """The second issuer publishes its key at a JWKS URL (a real HTTP server on loopback)."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(keys["published"].public_key()))
    jwk.update({"kid": "pub-1", "alg": "RS384"})
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            self.send_response(200 if self.path == "/jwks.json" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body if self.path == "/jwks.json" else b"{}")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()


@pytest.fixture(scope="module")
def site(tmp_path_factory, keys, published_keys):
    work = tmp_path_factory.mktemp("cds")
    write_tiny_models(work / "bundle")
    server = LoopbackSite(work, work / "bundle", workers=2, threads=2)
    server.env.update({"PRCRS_CDS_ISSUERS": f"{ISSUER},https://other.example.org,{PUBLISHER}",
                       "PRCRS_CDS_JWKS_FILE": str(keys["jwks"]),
                       "PRCRS_CDS_JWKS_URLS": f"{PUBLISHER}={published_keys}",
                       "PRCRS_PUBLIC_URL": f"http://127.0.0.1:{server.port}"})
    with server:
        yield server


def token(site, keys, kid="ehr-1", **changes) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": f"http://127.0.0.1:{site.port}{SERVICE}", "iat": now,
              "exp": now + 300, "jti": uuid.uuid4().hex, "sub": "ehr-client"}
    key = changes.pop("key", keys["private"])
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS384", headers={"kid": kid})


def hook_body(prefetch: dict | None = None, fhir_server: str | None = None) -> dict:
    body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/d1", "patientId": "p7"}}
    if prefetch is not None:
        body["prefetch"] = prefetch
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
        body["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer",
                                     "expires_in": 300, "scope": "patient/Observation.read",
                                     "subject": "prcrs"}
    return body


def call(site, body, bearer: str | None, lang="en"):
    headers = {"Accept-Language": lang}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    return HttpSession(site.port).post_json(SERVICE, body, headers=headers)


def test_discovery_needs_no_token_and_lists_the_prefetch(site):
    reply = HttpSession(site.port).get("/cds-services")
    assert reply.status == 200
    service = reply.json()["services"][0]
    assert (service["hook"], service["id"]) == ("patient-view", "prcrs-severe-crs")
    assert "http://loinc.org|26881-3" in service["prefetch"]["observations"]
    assert "{{context.patientId}}" in service["prefetch"]["observations"]


def test_a_hook_with_prefetch_answers_a_card(site, keys):
    now = dt.datetime.now(dt.timezone.utc)
    prefetch = day_bundle(VALUES, at=now, patient="Patient/p7")
    prefetch["type"] = "searchset"
    reply = call(site, hook_body({"observations": prefetch}), token(site, keys))
    assert reply.status == 200, reply.text
    card = reply.json()["cards"][0]
    assert len(card["summary"]) < 140 and card["summary"].startswith("Severe CRS risk tomorrow")
    assert card["indicator"] in ("info", "warning", "critical")
    assert "| tomorrow |" in card["detail"] and "in three days" in card["detail"]
    assert card["source"]["url"].startswith(f"http://127.0.0.1:{site.port}/en/models/")
    assert card["links"][0]["url"].endswith("/en/course/")


def test_a_hook_without_prefetch_queries_the_ehrs_fhir_server(site, keys, fhir_server):
    reply = call(site, hook_body(fhir_server=f"{fhir_server}/4_0_1"), token(site, keys))
    assert reply.status == 200, reply.text
    card = reply.json()["cards"][0]
    assert "grade" not in card["detail"] or "Without labs" in card["detail"]
    asked = json.loads(HttpSession(int(fhir_server.rsplit(":", 1)[1]),
                                   host="127.0.0.1").get("/requests",
                                                         {"Authorization": f"Bearer {TOKEN}"}
                                                         ).body)
    assert any(r["type"] == "Observation" and r["query"]["patient"] == "p7" for r in asked)


def test_the_fhir_servers_refusal_is_told_in_a_card_not_a_5xx(site, keys, fhir_server):
    body = hook_body(fhir_server=f"{fhir_server}/4_0_1")
    body["fhirAuthorization"]["access_token"] = "wrong"
    reply = call(site, body, token(site, keys))
    assert reply.status == 200
    card = reply.json()["cards"][0]
    assert "401" in card["detail"] and card["summary"].endswith("not computed")


@pytest.mark.parametrize("server", ["http://127.0.0.1:1/fhir", -1, "file:///etc/passwd",
                                    "http://[::1"])
def test_an_unusable_fhir_server_is_never_a_5xx(site, keys, server):
    body = hook_body(fhir_server="http://x")
    body["fhirServer"] = server
    reply = call(site, body, token(site, keys))
    assert reply.status in (200, 400), reply.text
    if reply.status == 400:
        OperationOutcome.model_validate_json(reply.body)


@pytest.mark.parametrize("case, status", [
    ("missing", 401), ("wrong signature", 401), ("expired", 401), ("wrong aud", 401),
    ("no jti", 401), ("unsigned", 401), ("unknown issuer", 403), ("untrusted issuer key", 401),
])
def test_bad_tokens_are_refused(site, keys, case, status):
    bearer = {
        "missing": lambda: None,
        "wrong signature": lambda: token(site, keys, key=keys["other"]),
        "expired": lambda: token(site, keys, exp=int(time.time()) - 600),
        "wrong aud": lambda: token(site, keys, aud="https://elsewhere.example.org/cds"),
        "no jti": lambda: token(site, keys, jti=None),
        "unsigned": lambda: jwt.encode({"iss": ISSUER, "jti": "x", "exp": 9999999999,
                                        "aud": "x"}, None, algorithm="none"),
        "unknown issuer": lambda: token(site, keys, iss="https://intruder.example.org"),
        "untrusted issuer key": lambda: token(site, keys, iss="https://other.example.org",
                                              key=keys["other"]),
    }[case]()
    reply = call(site, hook_body({"observations": None}), bearer)
    assert reply.status == status, reply.text
    OperationOutcome.model_validate_json(reply.body)


def test_a_replayed_token_is_refused_by_every_worker(site, keys):
    now = dt.datetime.now(dt.timezone.utc)
    prefetch = day_bundle(VALUES, at=now, patient="Patient/p7")
    bearer = token(site, keys)
    assert call(site, hook_body({"observations": prefetch}), bearer).status == 200
    replies = [call(site, hook_body({"observations": prefetch}), bearer) for _ in range(4)]
    assert {r.status for r in replies} == {401}
    assert "already used" in replies[0].text


def test_a_bundle_with_a_wrong_unit_is_an_operation_outcome(site):
    sent = [observation(k, v) for k, v in VALUES.items()]
    sent[3]["valueQuantity"].update({"unit": "mg/dL", "code": "mg/dL"})
    reply = HttpSession(site.port).request(
        "POST", "/fhir/r4/RiskAssessment/$predict", body=json.dumps(bundle(sent)).encode(),
        headers={"Content-Type": "application/fhir+json", "Accept-Language": "en"})
    assert reply.status == 422
    outcome = OperationOutcome.model_validate_json(reply.body)
    assert outcome.issue[0].expression == ["Bundle.entry[3].resource.valueQuantity.code"]


def test_a_hook_with_a_wrong_unit_explains_it_in_a_card(site, keys):
    now = dt.datetime.now(dt.timezone.utc)
    prefetch = day_bundle(VALUES, at=now, patient="Patient/p7")
    prefetch["entry"][0]["resource"]["valueQuantity"].update({"unit": "mol/L", "code": "mol/L"})
    reply = call(site, hook_body({"observations": prefetch}), token(site, keys))
    assert reply.status == 200
    card = reply.json()["cards"][0]
    assert "mol/L" in card["detail"] and card["summary"].endswith("not computed")


def test_an_issuer_publishing_its_keys_at_a_jwks_url_is_checked_against_them(site, keys):
    now = dt.datetime.now(dt.timezone.utc)
    body = hook_body({"observations": day_bundle(VALUES, at=now, patient="Patient/p7")})
    good = token(site, keys, kid="pub-1", iss=PUBLISHER, key=keys["published"])
    assert call(site, body, good).status == 200
    forged = token(site, keys, kid="pub-1", iss=PUBLISHER, key=keys["other"])
    assert call(site, body, forged).status == 401
