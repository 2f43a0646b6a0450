#!/usr/bin/env python
"""Latency of the CDS Hooks patient-view hook, as an EHR sees it (a script, not a test).

    .venv/bin/python bench/cds_hooks.py [--calls 200] [--warmup 20] [--workers 2]

Starts the site under gunicorn on loopback (bench.serving.LoopbackSite: a scratch database, the
bundled models of models_store/ or tiny stand-ins, said in the output), and the in-memory FHIR
server of tests/fhir_server (node; ``make fhir-test-server`` installs it) holding one patient's
42 lab Observations, CRS grade and day from two hours ago. Then, one call at a time over fresh
loopback connections, each with a freshly signed RS384 JWT (signed before the clock starts):

(a) the hook with prefetch (the Observations in the request);
(b) the hook without prefetch: the site queries the FHIR server with the hook's access token.

Prints the median and p99 of each in ms and whether both medians are under 500 ms (the
specification's target); exits 1 otherwise. ``--doc docs/integration.md`` also writes the
figures into that file's latency section (between its markers).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import django  # noqa: E402
import os  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prcrs_site.settings")
django.setup()

import jwt  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from bench.serving import LoopbackSite, bundled_models_or_tiny  # noqa: E402
from predictor.catalogue import FACTORS  # noqa: E402
from tests.fhir_bundles import bundle, observation  # noqa: E402
from tests.http_session import HttpSession  # noqa: E402

ISSUER = "https://ehr.bench.example"
ACCESS_TOKEN = "bench-" + uuid.uuid4().hex
SERVICE = "/cds-services/prcrs-severe-crs"


def typical_values() -> dict[str, float]:
    """Every factor at the middle of its typical range (fractions for percentages)."""
    return {f.key: (f.typical[0] + f.typical[1]) / 2 for f in FACTORS}


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def start_fhir_server(work: Path, resources: list[dict]) -> tuple[subprocess.Popen, str]:
    node = shutil.which("node")
    server_dir = ROOT / "tests" / "fhir_server"
    if node is None or not (server_dir / "node_modules").exists():
        raise SystemExit("node and tests/fhir_server/node_modules are needed "
                         "(make fhir-test-server)")
    data = work / "fhir.json"
    data.write_text(json.dumps(bundle(resources)))
    process = subprocess.Popen([node, "server.js"], cwd=server_dir, stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "FHIR_DATA": str(data),
                                               "FHIR_TOKEN": ACCESS_TOKEN, "PORT": "0"})
    line = process.stdout.readline()
    if not line.startswith("listening"):
        process.kill()
        raise SystemExit(f"the FHIR server did not start: {line}")
    return process, f"http://127.0.0.1:{int(line.split()[1])}/4_0_1"


BEGIN = "<!-- latency: written by bench/cds_hooks.py --doc -->"
END = "<!-- end of latency -->"


def write_figures(path: Path, results: dict[str, list[float]], real: bool, workers: int) -> None:
    lines = [f"Measured with {'the bundled models' if real else 'tiny stand-in models'}, "
             f"{workers} gunicorn workers, {len(next(iter(results.values())))} calls each "
             f"({dt.date.today().isoformat()}):", "", "| hook call | median | p99 |",
             "|---|---|---|"]
    lines += [f"| {name} | {statistics.median(s):.1f} ms | {p99(s):.1f} ms |"
              for name, s in results.items()]
    text = path.read_text(encoding="utf-8")
    head, _sep, rest = text.partition(BEGIN)
    _old, _sep2, tail = rest.partition(END)
    path.write_text(head + BEGIN + "\n" + "\n".join(lines) + "\n" + END + tail,
                    encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--doc", help="write the figures into this Markdown file's section")
    args = parser.parse_args()

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "bench", "alg": "RS384"})
    with tempfile.TemporaryDirectory(prefix="prcrs-cds-bench-") as tmp:
        work = Path(tmp)
        (work / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
        at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=2)
        resources = [observation(k, v, at=at, patient="Patient/b1")
                     for k, v in typical_values().items()]
        resources += [observation("crs_grade", 1, at=at, patient="Patient/b1"),
                      observation("day", 4, at=at, patient="Patient/b1")]
        models, real = bundled_models_or_tiny(work)
        site = LoopbackSite(work, models, workers=args.workers, threads=2)
        site.env.update({"PRCRS_CDS_ISSUERS": ISSUER,
                         "PRCRS_CDS_JWKS_FILE": str(work / "jwks.json"),
                         "PRCRS_PUBLIC_URL": f"http://127.0.0.1:{site.port}"})
        fhir, fhir_url = start_fhir_server(work, resources)
        audience = f"http://127.0.0.1:{site.port}{SERVICE}"
        prefetch = bundle(resources, kind="searchset")
        bodies = {
            "with prefetch": {"prefetch": {"observations": prefetch}},
            "server query": {"fhirServer": fhir_url, "fhirAuthorization": {
                "access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 300,
                "scope": "patient/Observation.read", "subject": "prcrs"}},
        }
        try:
            with site:
                print(f"models: {'bundled (models_store/)' if real else 'tiny stand-ins'}; "
                      f"gunicorn workers: {args.workers}; calls: {args.calls} per way")
                results = {}
                for name, extra in bodies.items():
                    samples = []
                    for i in range(args.warmup + args.calls):
                        now = int(time.time())
                        bearer = jwt.encode({"iss": ISSUER, "aud": audience, "iat": now,
                                             "exp": now + 300, "jti": uuid.uuid4().hex},
                                            key, algorithm="RS384", headers={"kid": "bench"})
                        body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
                                "context": {"userId": "Practitioner/x", "patientId": "b1"},
                                **extra}
                        payload = json.dumps(body).encode()
                        session = HttpSession(site.port)
                        started = time.perf_counter()
                        reply = session.request("POST", SERVICE, body=payload, headers={
                            "Content-Type": "application/json",
                            "Authorization": f"Bearer {bearer}", "Accept-Language": "en"})
                        took = (time.perf_counter() - started) * 1000
                        if reply.status != 200 or not reply.json().get("cards"):
                            raise SystemExit(f"{name}: {reply.status} {reply.text[:500]}")
                        if i >= args.warmup:
                            samples.append(took)
                    results[name] = samples
                    print(f"{name:>14}: median {statistics.median(samples):7.1f} ms   "
                          f"p99 {p99(samples):7.1f} ms")
        finally:
            fhir.terminate()
            fhir.wait(timeout=10)
    if args.doc:
        write_figures(Path(args.doc), results, real, args.workers)
    ok = all(statistics.median(s) < 500 for s in results.values())
    print("both medians under 500 ms" if ok else "a median is over 500 ms")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
