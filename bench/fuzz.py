"""Bounded HTTP fuzz of the running site: odd methods, paths, query strings, headers and bodies
against gunicorn on loopback (DJANGO_DEBUG=0), counting answers by status.

    .venv/bin/python bench/fuzz.py [--requests 3000] [--seed 10] [--threads 4] [--port N]

Prints the status counts, every distinct 5xx (request and the start of the answer), and the
tracebacks the server logged. A second part (``--forms``, ``--sheets``) posts the prediction form
(multipart and urlencoded, both languages, junk names and values, control characters and line
breaks inside numbers) and sheets to the three ways in (course page, batch API, validation API):
the hostile corpus of bench/hostile_sheets.py built at run time and mutated small sheets; it
prints requests sent, 5xx, hangs (over 10 s) and, for its own server, peak worker memory.
A third part (``--uploads``, on its own server only) logs into the admin as a superuser it
creates and uploads mutated model files and baselines to the model upload page (broken and
truncated archives, two files of one name, manifests that are not JSON or name a key twice or
another slot, baselines with two columns of one name or junk); it prints requests, 5xx, hangs,
and whether the version that served before still serves. Exit status 1 when any 5xx or hang was
seen. Without ``--port`` it starts its own LoopbackSite
(tiny stand-in models, scratch SQLite) and stops it at the end. It is not a test; tests/test_request_hazards.py holds the cases it found, one by one.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.http_forms import peak_rss_mib  # noqa: E402
from bench.serving import LoopbackSite, pattern_values, write_tiny_models  # noqa: E402

METHODS = ["GET"] * 6 + ["POST"] * 8 + ["HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
                                         "PROPFIND", "get", "FOO"]
PATHS = ["/", "/en/", "/zh-hans/", "/healthz", "/readyz", "/api/v1/predict", "/api/v1/catalogue",
         "/api/v1/predict/", "/api/v1/", "/api/", "/en/models/", "/zh-hans/models/",
         "/en/models/1/4/", "/en/models/9/zz/", "/en/models/1/1234/", "/en/admin/",
         "/en/admin/login/", "/zh-hans/admin/login/", "/en/admin/predictor/modelversion/add/",
         "/static/css/site.css", "/static/../settings.py", "/%ff%fe", "/en/%c0%af", "//", "/en//",
         "/en/i18n/setlang/", "/fr/", "/zh-hant/", "/en/?", "/favicon.ico", "/robots.txt",
         "/api/v1/predict%00", "/en/admin/jsi18n/", "/api/v1/catalogue/..%2f..%2f"]
CHARSETS = ["utf-8", "UTF8", "latin-1", "iso-8859-1", "cp1252", "gbk", "gb18030", "big5", "ascii",
            "utf-16", "utf-16-le", "utf-32", "utf-7", "utf-8-sig", "idna", "punycode", "base64",
            "hex", "rot13", "zlib", "bz2", "uu", "quopri", "raw-unicode-escape",
            "unicode-escape", "mbcs", "nonexistent", "", "\"utf-8\"", "utf-8;", "x" * 300]
CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data",
                 "multipart/form-data; boundary=", "multipart/form-data; boundary=xyz",
                 "text/plain", "application/octet-stream", "", "*/*", "application/json;;",
                 "text/plain; charset*=xyz''a", "text/plain; charset*=utf-8''%ff",
                 "text/plain; charset*=''", "application/json; charset*=utf-8'en'x",
                 'multipart/form-data; boundary="a b"', "a/b; c=\"unterminated",
                 "application/x-www-form-urlencoded; charset*=bogus''x"]
LANGUAGES = ["en", "zh-hans", "zh", "zh-CN", "en-US", "fr", "xx", "*", "", "zh-Hant-TW;q=x",
             "en;q=0.5,,,", "a" * 300, "zh-hans;q=2", "de-DE, en;q=0.1", "%ff"]
FIELDS = ["il6", "il2", "crp", "d_dimer", "horizon", "neutrophil_pct", "switch_language",
          "csrfmiddlewaretoken", "username", "password", "next", "lang"]
ODD_VALUES = ["1,234", "0,45", "1.234,5", "12,345,678", "1 234", "１２３４", "45%", "1e308",
              "-1e308", "1e-400", "nan", "inf", "٣", "1。5", "", " ", "\x00", "9" * 400,
              "1,2,3", "+.5", "0x10", "1_000", "٬", "%", "💉", "<script>", "' OR 1=1 --"]


def odd_value(rng: random.Random):
    pick = rng.random()
    if pick < 0.5:
        return rng.choice(ODD_VALUES)
    if pick < 0.7:
        return rng.choice([1234, -1, 0, 1e308, 10 ** 30, 0.45, True, None, [], {}])
    return "".join(chr(rng.randrange(1, 0xd800)) for _ in range(rng.randrange(1, 8)))


def query_string(rng: random.Random) -> str:
    choices = [
        "", "lang=en", "lang=zh-hans", "lang=zh", "lang=xx", "lang=%ff", "lang=en&lang=zh-hans",
        "a&" * rng.choice([10, 999, 1001, 1500]), "%zz", "a=%ff%fe", "horizon=all", ";;;",
        "next=//evil.example", "=", "&&", "a=" + "b" * 3000, "%00=%00",
        "&".join(f"{quote(chr(rng.randrange(1, 0xd800)), safe='')}=1" for _ in range(3)),
    ]
    return rng.choice(choices)


def body_for(rng: random.Random, content_type: str, token: str) -> bytes:
    kind = rng.random()
    if kind < 0.1:
        return b""
    if kind < 0.15:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    if kind < 0.18:
        return b"{" * 5000 + b"}" * 5000
    if kind < 0.2:
        return json.dumps({"values": pattern_values("4"), "pad": "x" * 70_000}).encode()
    if "json" in content_type or kind < 0.5:
        values = pattern_values(rng.choice(["1234", "123", "4", "23", "3", "2"]))
        for key in rng.sample(sorted(values), k=min(2, len(values))):
            values[key] = odd_value(rng)
        payload = rng.choice([{"values": values, "horizon": rng.choice([1, 2, 3, "all", 7, None,
                                                                        "1", [1], 1.5])},
                              [1, 2], "text", None, {"values": "il6=1"}, {"horizon": 1}])
        try:
            data = json.dumps(payload, ensure_ascii=rng.random() < 0.5).encode(
                "utf-8", "surrogatepass")
        except (TypeError, ValueError):
            return b"{}"
        return repeat_a_key(rng, data) if rng.random() < 0.1 else data
    fields = {k: str(odd_value(rng)) for k in rng.sample(FIELDS, k=rng.randrange(1, 6))}
    fields["csrfmiddlewaretoken"] = token
    fields.update({k: v for k, v in pattern_values("4").items() if rng.random() < 0.7})
    encoded = "&".join(f"{quote(str(k))}={quote(str(v), safe='')}" for k, v in fields.items())
    return encoded.encode("ascii")


def repeat_a_key(rng: random.Random, data: bytes) -> bytes:
    """JSON text with a key named twice in its last object (only the text can hold that)."""
    if not data.endswith(b"}") or data.endswith(b"{}"):
        return data
    key = rng.choice([b"horizon", b"values", b"il6", b"context", b"resourceType", b"x"])
    return data[:-1] + b', "' + key + b'": ' + rng.choice([b"1", b'"all"', b"{}", b"null"]) + b"}"


def make_request(rng: random.Random, token: str) -> tuple[str, str, dict[str, str], bytes]:
    method = rng.choice(METHODS)
    path = rng.choice(PATHS)
    query = query_string(rng) if rng.random() < 0.5 else ""
    target = path + ("?" + query if query else "")
    headers: dict[str, str] = {}
    content_type = rng.choice(CONTENT_TYPES)
    if rng.random() < 0.4 and content_type and "charset" not in content_type:
        content_type += f"; charset={rng.choice(CHARSETS)}"
    if content_type:
        headers["Content-Type"] = content_type
    if rng.random() < 0.6:
        headers["Accept-Language"] = rng.choice(LANGUAGES)
    if rng.random() < 0.6:
        headers["Cookie"] = rng.choice([
            f"csrftoken={token}", f"csrftoken={token}; django_language=xx", "csrftoken=%ff",
            "sessionid=abc", "a" * 3000, "=;=;", f"csrftoken={token}; sessionid=" + "z" * 40])
    if rng.random() < 0.2:
        headers["Host"] = rng.choice(["evil.example", "127.0.0.1:99999", "[::1]", "localhost",
                                      "127.0.0.1", "a..b", "%ff"])
    if rng.random() < 0.2:
        headers["X-Forwarded-Proto"] = rng.choice(["https", "http", "gopher", ""])
        headers["X-Forwarded-For"] = rng.choice(["1.2.3.4", "::1", "nonsense", ""])
    if rng.random() < 0.3:
        headers["Referer"] = rng.choice(["http://127.0.0.1/", "https://evil.example/", "%ff",
                                         "null"])
    if rng.random() < 0.1:
        headers["Range"] = rng.choice(["bytes=0-10", "bytes=-1", "bytes=9999999-", "x"])
    if rng.random() < 0.1:
        headers["If-None-Match"] = rng.choice(["*", '"x"', "W/"])
    body = body_for(rng, content_type, token) if method not in ("GET", "HEAD") or \
        rng.random() < 0.1 else b""
    return method, target, headers, body


def send(port: int, request: tuple[str, str, dict[str, str], bytes], chunked: bool) -> int:
    method, target, headers, body = request
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        if chunked and body:
            pieces = [body[i:i + 7] for i in range(0, len(body), 7)]
            conn.putrequest(method, target, skip_host="Host" in headers,
                            skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            for piece in pieces:
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.send(b"0\r\n\r\n")
        else:
            conn.putrequest(method, target, skip_host="Host" in headers,
                            skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            if body or method in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException, ValueError, UnicodeError):
        return 0  # refused by the client library or the connection dropped: counted apart
    finally:
        conn.close()


def raw_request(port: int, data: bytes) -> int:
    """For what http.client will not send: broken chunking, bad lengths, odd request lines."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            sock.sendall(data)
            reply = sock.recv(4096)
    except OSError:
        return 0
    match = re.match(rb"HTTP/1\.[01] (\d{3})", reply)
    return int(match.group(1)) if match else 0


RAW = [
    b"POST /api/v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    b"POST /api/v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n5\r\n{}\r\n",
    b"POST /api/v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n"
    b"Content-Type: application/json\r\nConnection: close\r\n\r\n{}",
    b"POST /en/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n",
    b"POST /en/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked"
    b"\r\n\r\n0\r\n\r\n",
    b"GET /en/ HTTP/1.0\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain; charset*=xyz''a"
    b"\r\nConnection: close\r\n\r\n",
    b"GET /\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    b"GET /en/?a=\xff HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    b"GET /en/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Language: \xff\xfe\r\nCookie: a=\xff\r\n"
    b"Connection: close\r\n\r\n",
    b"POST /en/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x"
    b"\r\nContent-Length: 20\r\nConnection: close\r\n\r\n--x\r\nbroken\r\n--x--",
]


def fuzz(port: int, requests: int, seed: int, threads: int, token: str) -> tuple[Counter, list]:
    rng = random.Random(seed)
    plan = [(make_request(rng, token), rng.random() < 0.15) for _ in range(requests)]
    statuses: Counter = Counter()
    failures: list = []
    lock = threading.Lock()

    def one(item) -> None:
        request, chunked = item
        status = send(port, request, chunked)
        with lock:
            statuses[status] += 1
            if status >= 500:
                failures.append((status, request[0], request[1][:120], request[2],
                                 request[3][:80], chunked))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, plan))
    for data in RAW:
        status = raw_request(port, data)
        statuses[status] += 1
        if status >= 500:
            failures.append((status, "RAW", data[:120]))
    return statuses, failures


# ----------------------------------------------------------------- FHIR and CDS Hooks (issue 17)

FUZZ_ISSUER = "https://ehr.fuzz.example"


def integration_signer(work: Path) -> tuple[dict[str, str], object]:
    """Site settings trusting a fresh RSA key, and a function signing a hook token for a port."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "fuzz", "alg": "RS384"})
    (work / "jwks.json").write_text(json.dumps({"keys": [jwk]}))

    def sign(port: int, **claims) -> str:
        now = int(time.time())
        body = {"iss": FUZZ_ISSUER, "aud": f"http://127.0.0.1:{port}/cds-services/"
                "prcrs-severe-crs", "exp": now + 300, "jti": f"{random.random()}-{now}",
                **claims}
        return jwt.encode(body, key, algorithm="RS384", headers={"kid": "fuzz"})

    return {"PRCRS_CDS_ISSUERS": FUZZ_ISSUER, "PRCRS_CDS_JWKS_FILE": str(work / "jwks.json"),
            "PRCRS_PUBLIC_URL": ""}, sign


def _mutate(rng: random.Random, value, depth: int = 0):
    """``value`` with one random change somewhere inside (type, number, key, string)."""
    if isinstance(value, dict) and value and depth < 8 and rng.random() < 0.8:
        key = rng.choice(list(value))
        out = dict(value)
        choice = rng.random()
        if choice < 0.15:
            del out[key]
        elif choice < 0.25:
            out[key + rng.choice(["", "x", "_"])] = odd_value(rng)
        else:
            out[key] = _mutate(rng, value[key], depth + 1)
        return out
    if isinstance(value, list) and value and depth < 8 and rng.random() < 0.8:
        out = list(value)
        i = rng.randrange(len(out))
        if rng.random() < 0.2:
            out.insert(i, rng.choice([None, {}, [], "x", 1e308, {"resource": None}]))
        else:
            out[i] = _mutate(rng, out[i], depth + 1)
        return out
    return rng.choice([odd_value(rng), None, {}, [], -1, 1e309, "NaN", "2026-13-45T99:00:00Z",
                       "pg/mL\u0000", "%", "mmol/L", 4.5, "urn:prcrs:codes", [value]])


def fuzz_integration(port: int, requests: int, seed: int, sign=None) -> tuple[Counter, list]:
    """Mutated FHIR Bundles to /fhir/r4/RiskAssessment/$predict and mutated hook requests (with
    valid, odd or no tokens) to /cds-services: answers must be 2xx or 4xx, never 5xx."""
    from tests.fhir_bundles import bundle, day_bundle, observation

    rng = random.Random(seed)
    values = {k: float(v) for k, v in pattern_values("4").items()}
    valid = day_bundle(values, grade=1, day=3, extra=[observation("crp", 12.0)])
    statuses: Counter = Counter()
    failures: list = []
    for i in range(requests):
        if i % 2 == 0:
            body = _mutate(rng, valid) if rng.random() < 0.9 else bundle([])
            path, headers = "/fhir/r4/RiskAssessment/$predict", {
                "Content-Type": rng.choice(["application/fhir+json", "application/json",
                                            "text/plain", ""])}
        else:
            hook = {"hook": "patient-view", "hookInstance": "x",
                    "context": {"patientId": "p1"},
                    "prefetch": {"observations": valid} if rng.random() < 0.7 else {},
                    "fhirServer": rng.choice(["http://127.0.0.1:1/fhir", "file:///etc/passwd",
                                              "gopher://x", "", "http://[::1", None])}
            body = _mutate(rng, hook)
            bearer = sign(port) if sign is not None and rng.random() < 0.8 else rng.choice(
                ["x.y.z", "", "Bearer", "a" * 5000])
            path = rng.choice(["/cds-services/prcrs-severe-crs", "/cds-services/other",
                               "/cds-services"])
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"}
        data = json.dumps(body, allow_nan=True).encode()
        if rng.random() < 0.1:
            data = repeat_a_key(rng, data)
        status = send(port, ("POST", path, headers, data), False)
        statuses[status] += 1
        if status >= 500:
            failures.append((status, "POST", path, data[:300]))
    return statuses, failures
# --- the form and the sheets (issue 18) ------------------------------------------------------
# Kept apart from the API fuzz above: posts to the prediction form (multipart and urlencoded, in
# every site language) and sheets to the three ways in (course page, batch API, validation API).

HANG_SECONDS = 10.0  # no request may take longer (issue 18)
SITE_LANGUAGES = ("en", "zh-hans")
NUMBER_JUNK = ["4\n8", "4\r\n8", "\n48", "48\n", "4\x0b8", "4\x008", "1\u20282", "4\t8",
               "\x85 48", "4\x1b[31m8", "1,2\n3", "5%", "5 %\n", "４８\n", "\r", "\n\n",
               "48" * 2000, "-0", "+inf", "NaN", "1e400", "0x1F", "４８％"]
JUNK_NAMES = ["", " ", "il6[]", "il6\n", "il6\x00", "__all__", "a" * 500, "惊", "💉",
              "csrfmiddlewaretoken2", "horizon\r\n", "values", "context", "crs_grade", "day"]


def _junk_value(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.5:
        return rng.choice(NUMBER_JUNK)
    if pick < 0.8:
        return str(odd_value(rng))
    return "".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randrange(1, 10)))


def form_request(rng: random.Random, token: str, keys: list[str]):
    """One post of the prediction form, filled with good and junk values and junk names."""
    fields: list[tuple[str, str]] = [("csrfmiddlewaretoken", token)] if rng.random() < 0.9 \
        else []
    values = pattern_values(rng.choice(["1234", "123", "4", "23", "3", "2"]))
    for key, value in values.items():
        fields.append((key, _junk_value(rng) if rng.random() < 0.3 else str(value)))
    for _ in range(rng.randrange(0, 4)):
        fields.append((rng.choice(keys + JUNK_NAMES), _junk_value(rng)))
    fields.append(("horizon", rng.choice(["1", "2", "3", "all", "", "7", "1\n"])))
    if rng.random() < 0.5:
        fields += [("crs_grade", rng.choice(["1", "2\n", "NaN", "1e400", ""])),
                   ("day", rng.choice(["3", "\n4", "Infinity", "-1", ""]))]
    if rng.random() < 0.2:
        fields.append(("units", rng.choice(["us", "si", "xx", "\x00"])))
    language = rng.choice(SITE_LANGUAGES)
    headers = {"Cookie": f"csrftoken={token}", "Accept-Language": rng.choice(LANGUAGES)}
    if rng.random() < 0.5:
        body = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in fields).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    else:
        body, headers["Content-Type"] = multipart_fields(fields)
    return "POST", f"/{language}/", headers, body


def multipart_fields(fields: list[tuple[str, str]]) -> tuple[bytes, str]:
    boundary = "fuzz" + "".join(random.choices("0123456789abcdef", k=16))
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{quote(k)}"\r\n\r\n'
             .encode() + v.encode("utf-8", "surrogatepass") + b"\r\n" for k, v in fields]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), \
        f"multipart/form-data; boundary={boundary}"


def mutated_sheets(rng: random.Random, count: int) -> list[tuple[str, bytes]]:
    """Small sheets, valid and then damaged: flipped bytes, cut short, odd encodings."""
    from bench.hostile_sheets import HEADERS, base_workbook

    good_csv = (",".join(HEADERS) + "\n" + "".join(
        f"P{i // 5},{i % 5},{i % 3},48,7.2,10,300,12\n" for i in range(20))).encode()
    good_xlsx = base_workbook()
    sheets = []
    for _ in range(count):
        name, data = rng.choice([("m.csv", good_csv), ("m.xlsx", good_xlsx)])
        data = bytearray(data)
        how = rng.random()
        if how < 0.3:
            for _ in range(rng.randrange(1, 20)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif how < 0.5:
            data = data[:rng.randrange(1, len(data))]
        elif how < 0.7 and name.endswith(".csv"):
            text = data.decode()
            data = bytearray(text.encode(rng.choice(["utf-16", "utf-16-le", "gb18030",
                                                     "latin-1", "utf-32", "utf-8-sig"])))
        elif how < 0.8 and name.endswith(".csv"):
            data = bytearray(bytes(data).replace(b"48", rng.choice(
                [b'"4\n8"', b"4\x0b8", b"5%", b"NaN", b"1e400", b"\x00"])))
        sheets.append((rng.choice([name, "x.csv", "x.xlsx", "x.txt", ""]), bytes(data)))
    return sheets


def sheet_requests(rng: random.Random, token: str, extra: int):
    """Every hostile file (bench/hostile_sheets.py) and ``extra`` mutated ones, each to the
    course page (as a file, and as pasted text when it is text), the batch API and the
    validation API."""
    from bench.hostile_sheets import hostile_files
    from bench.http_forms import multipart

    files = list(hostile_files().values()) + mutated_sheets(rng, extra)
    requests = []
    for name, data in files:
        lang = rng.choice(SITE_LANGUAGES)
        body, kind = multipart({"csrfmiddlewaretoken": token, "action": "score",
                                "units": rng.choice(["si", "us"])}, {"file": (name, data)})
        requests.append(("POST", f"/{lang}/course/", {"Content-Type": kind,
                                                      "Cookie": f"csrftoken={token}"}, body))
        if len(data) < 6_000_000 and not data.startswith(b"PK"):
            text = data.decode("utf-8", "replace")
            body, kind = multipart({"csrfmiddlewaretoken": token, "action": "score",
                                    "text": text})
            requests.append(("POST", f"/{lang}/course/", {"Content-Type": kind,
                                                          "Cookie": f"csrftoken={token}"}, body))
        for path in ("/api/v1/predict/batch", "/api/v1/validate"):
            body, kind = multipart({"horizon": rng.choice(["1", "all", "x"])},
                                   {"sheet": (name, data)})
            requests.append(("POST", f"{path}?lang={lang}", {"Content-Type": kind}, body))
    return requests


def fuzz_forms_and_sheets(port: int, forms: int, sheets: int, seed: int, threads: int,
                          token: str) -> tuple[Counter, list, list[float]]:
    """Statuses, 5xx seen and every request's seconds, for the form and sheet requests."""
    from predictor.catalogue import FACTORS

    rng = random.Random(seed)
    keys = [f.key for f in FACTORS]
    plan = [form_request(rng, token, keys) for _ in range(forms)]
    plan += sheet_requests(rng, token, sheets)
    rng.shuffle(plan)
    statuses: Counter = Counter()
    failures: list = []
    seconds: list[float] = []
    lock = threading.Lock()

    def one(request) -> None:
        started = time.monotonic()
        status = send(port, request, False)
        took = time.monotonic() - started
        with lock:
            statuses[status] += 1
            seconds.append(took)
            if status >= 500 or status == 0:
                failures.append((status, request[1][:60], request[3][:160], round(took, 1)))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, plan))
    return statuses, failures, seconds


def csrf_token(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/en/")
        response = conn.getresponse()
        response.read()
        cookie = response.headers.get("Set-Cookie", "")
    finally:
        conn.close()
    found = re.search(r"csrftoken=([^;]+)", cookie)
    return found.group(1) if found else ""


def report_forms_and_sheets(port: int, args, token: str) -> int:
    """Run the form and sheet fuzz, print its figures; returns its count of 5xx and hangs."""
    started = time.monotonic()
    statuses, failures, seconds = fuzz_forms_and_sheets(port, args.forms, args.sheets,
                                                        args.seed, args.threads, token)
    elapsed = time.monotonic() - started
    total = sum(statuses.values())
    five = sum(n for s, n in statuses.items() if s >= 500)
    hangs = sum(1 for t in seconds if t > HANG_SECONDS) + statuses.get(0, 0)
    print(f"form and sheets: {total} requests in {elapsed:.0f} s (seed {args.seed}): "
          f"{five} x 5xx, {hangs} hangs (over {HANG_SECONDS:.0f} s or unanswered), "
          f"slowest {max(seconds, default=0):.1f} s")
    print("by status: " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())))
    for failure in sorted(set(repr(f)[:400] for f in failures))[:30]:
        print("  5xx/unanswered:", failure)
    return five + hangs


# --- the admin's model upload -------------------------------------------------------------------

ADMIN = ("fuzz-admin", "fuzz-" + "p" * 14)
UPLOAD_PATH = "/en/admin/predictor/modelversion/add/"


def _in_extra(name: str, extra: str) -> bool:
    return name.endswith(f"/extra/{extra}")


def mutated_model_files(rng: random.Random, count: int) -> list[tuple[bytes, bytes | None]]:
    """(model file, baseline file or None) pairs for slot h1, combination 4: each a real tiny
    TorchScript file with one thing broken (or nothing, now and then)."""
    import warnings

    from tests.model_files import baseline_csv, rewritten_archive, tiny_model_bytes

    good = tiny_model_bytes(1, "4", bias=0.3)
    baseline = baseline_csv().encode()

    def edited(change):  # the good file with its entries changed
        return rewritten_archive(good, change)

    def manifest_edit(edit):
        return edited(lambda n, c: [(n, edit(c) if _in_extra(n, "manifest.json") else c)])

    makers = [
        lambda: (good, None),
        lambda: (good[:rng.randrange(10, len(good))], None),
        lambda: (bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000))), None),
        lambda: (b"PK\x03\x04" + good[4:rng.randrange(50, len(good))], None),
        lambda: (edited(lambda n, c: [(n, c), (n, c)] if _in_extra(n, "manifest.json")
                        else [(n, c)]), None),
        lambda: (manifest_edit(lambda c: c[:-1] + b', "horizon": 2}'), None),
        lambda: (manifest_edit(lambda c: c.replace(b'"combination": "4"',
                                                   b'"combination": "1234"')), None),
        lambda: (manifest_edit(lambda c: c[: rng.randrange(1, len(c))]), None),
        lambda: (manifest_edit(lambda c: b"\xff\xfe" + c), None),
        lambda: (manifest_edit(lambda c: b"[1, 2]"), None),
        lambda: (manifest_edit(lambda c: b"{" * 5000), None),
        lambda: (edited(lambda n, c: [] if _in_extra(n, "baseline.csv") else [(n, c)]),
                 rng.choice([b"probability,severe,probability\n" + b"0.5,1,0.5\n" * 30,
                             b"probability,severe\n" + b"nan,1\n" * 30, b"", b"\x00" * 64,
                             b"probability,severe\n0.5,2\n", baseline])),
        lambda: (edited(lambda n, c: [(n, c.replace(b"log1p", b"log2p"))
                                      if "/code/" in n else (n, c)]), None),
        lambda: (edited(lambda n, c: [(n, bytes(b ^ 0x5A for b in c))
                                      if n.endswith("data.pkl") else (n, c)]), None),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile's "Duplicate name": wanted here
        return [rng.choice(makers)() for _ in range(count)]


def admin_session(site: LoopbackSite) -> str:
    """The Cookie header of a superuser logged in through the real login form."""
    import subprocess

    from bench.http_forms import csrf_token as page_csrf_token

    subprocess.run([sys.executable, "manage.py", "createsuperuser", "--noinput",
                    "--username", ADMIN[0], "--email", "fuzz@example.org"], cwd=ROOT,
                   env=site.env | {"DJANGO_SUPERUSER_PASSWORD": ADMIN[1]}, check=True,
                   capture_output=True, timeout=120)
    conn = site.connection()
    try:
        token = page_csrf_token(conn, "/en/admin/login/")
        body = (f"csrfmiddlewaretoken={token}&username={ADMIN[0]}&password={ADMIN[1]}"
                "&next=/en/admin/").encode()
        conn.request("POST", "/en/admin/login/", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={token}",
            "Referer": f"http://127.0.0.1:{site.port}/en/admin/login/"})
        response = conn.getresponse()
        response.read()
        cookies = " ".join(response.headers.get_all("Set-Cookie") or [])
        session = re.search(r"sessionid=([^;]+)", cookies)
        rotated = re.search(r"csrftoken=([^;]+)", cookies)  # a login rotates the token
        token = rotated.group(1) if rotated else token
    finally:
        conn.close()
    if response.status != 302 or session is None:
        raise RuntimeError(f"admin login failed: {response.status}")
    return f"csrftoken={token}; sessionid={session.group(1)}"


def served_version(port: int) -> str | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/api/v1/predict?lang=en", json.dumps(
            {"values": pattern_values("4"), "horizon": 1}), {"Content-Type": "application/json"})
        response = conn.getresponse()
        answer = json.loads(response.read() or b"{}")
    finally:
        conn.close()
    return answer.get("model_version") if response.status == 200 else None


def report_uploads(site: LoopbackSite, count: int, seed: int) -> int:
    """Upload ``count`` mutated model files one by one; print the figures; returns 5xx + hangs
    + (1 if the version serving before no longer serves)."""
    from bench.http_forms import multipart

    cookie = admin_session(site)
    token = re.search(r"csrftoken=([^;]+)", cookie).group(1)
    before = served_version(site.port)
    rng = random.Random(seed)
    statuses: Counter = Counter()
    slowest, hangs = 0.0, 0
    started = time.monotonic()
    for model, baseline in mutated_model_files(rng, count):
        files = {"model_file": ("model.pt", model)}
        if baseline is not None:
            files["baseline_file"] = ("baseline.csv", baseline)
        body, kind = multipart({"csrfmiddlewaretoken": token, "horizon": "1",
                                "combination": "4", "notes": "fuzz"}, files)
        began = time.monotonic()
        status = send(site.port, ("POST", UPLOAD_PATH, {
            "Content-Type": kind, "Cookie": cookie,
            "Referer": f"http://127.0.0.1:{site.port}{UPLOAD_PATH}"}, body), False)
        took = time.monotonic() - began
        slowest = max(slowest, took)
        hangs += took > HANG_SECONDS or status == 0
        statuses[status] += 1
    after = served_version(site.port)
    five = sum(n for s, n in statuses.items() if s >= 500)
    print(f"model uploads: {count} in {time.monotonic() - started:.0f} s (seed {seed}): "
          f"{five} x 5xx, {hangs} hangs, slowest {slowest:.1f} s; serving before {before}, "
          f"after {after}")
    print("by status (302: accepted as a new version, not serving; 400: refused with reasons): "
          + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())))
    return five + hangs + (before is None or after != before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port", type=int, help="a site already running on 127.0.0.1")
    parser.add_argument("--forms", type=int, default=1200,
                        help="posts of the prediction form (0: none)")
    parser.add_argument("--sheets", type=int, default=60,
                        help="mutated sheets besides the hostile corpus, each sent 3-4 ways")
    parser.add_argument("--uploads", type=int, default=40,
                        help="mutated model files to the admin's upload page (own server only)")
    args = parser.parse_args()

    site = None
    signer = None
    work = Path(tempfile.mkdtemp(prefix="prcrs-fuzz-"))
    try:
        if args.port:
            port = args.port
        else:
            write_tiny_models(work / "bundle")
            integration_env, signer = integration_signer(work)
            site = LoopbackSite(work, work / "bundle", workers=2, threads=4,
                                env={"GUNICORN_ACCESS_LOG": "", **integration_env})
            site.migrate()
            site.start()
            port = site.port
        token = csrf_token(port)
        if site is not None:
            idle = max(peak_rss_mib(pid) for pid in site.worker_pids())
            print(f"worker memory after start: {idle:.0f} MiB (VmHWM)")
        started = time.monotonic()
        statuses, failures = fuzz(port, args.requests, args.seed, args.threads, token)
        more, more_failures = fuzz_integration(port, max(200, args.requests // 10), args.seed,
                                               signer)
        statuses.update(more)
        failures.extend(more_failures)
        elapsed = time.monotonic() - started
        total = sum(statuses.values())
        five = sum(n for s, n in statuses.items() if s >= 500)
        print(f"API and site: {total} requests in {elapsed:.0f} s (seed {args.seed}): "
              f"{five} x 5xx, {statuses.get(0, 0)} not answered (refused by the client library "
              "or the connection closed)")
        print("by status: " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())))
        for failure in sorted(set(repr(f)[:400] for f in failures))[:30]:
            print("  5xx:", failure)
        five += report_forms_and_sheets(port, args, token)
        if site is not None and args.uploads:
            five += report_uploads(site, args.uploads, args.seed)
        if site is not None:
            peak = max(peak_rss_mib(pid) for pid in site.worker_pids())
            print(f"peak worker memory: {peak:.0f} MiB (VmHWM, {site.workers} workers)")
            # 5xx only: Django's "Internal Server Error" and gunicorn's "Error handling request"
            # (a 400 for a bad Host header is logged with a traceback too, and is fine).
            errors = [entry for entry in site.log_entries() if entry.get("level") == "ERROR"
                      and str(entry.get("message", "")).startswith(
                          ("Internal Server Error", "Error handling request"))]
            print(f"server errors logged: {len(errors)}")
            for entry in errors[:8]:
                print("  ", str(entry.get("message"))[:120], "|",
                      (entry.get("exception") or "").strip().splitlines()[-1:])
        sys.exit(1 if five else 0)
    finally:
        if site is not None:
            site.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
