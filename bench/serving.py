"""Serving benchmark: the site under gunicorn on loopback, against the original per-process way.

    .venv/bin/python bench/serving.py [--seconds 30] [--concurrency 16] [--requests 300]

Prints figures; it is not a test. A scratch directory holds the database (SQLite unless
--database-url is given) and the models directory; ``migrate`` registers the bundled model files
of ``models_store/`` (or, while those do not exist yet, tiny stand-in models built like the
tests' and said so in the output). Then:

(a) JSON API at concurrency 1: median and p99 latency per combination (six input patterns,
    one selecting each combination), over one kept-alive connection;
(b) throughput at concurrency N (16) for S (30) seconds: requests/s, p99, errors; the client is
    a pool of processes with threads and kept-alive connections, on the same cores as the
    server, so the figure is a floor;
(c) resident memory (VmRSS) of each gunicorn worker with all the bundled models loaded;
(d) the original PrCRS way re-enacted with the same model file: a fresh Python process per
    prediction that imports torch and pandas, loads the TorchScript file, reads the baseline
    (the archive's baseline.csv) with pandas, builds the calibration table and predicts;
    10 runs; then the ratio (d)/(a);
(e) the rate limiter's cost: charge() timed in a process on the site's database (one client,
    1,000 clients, a small exact limit), and the API's median latency with the limiter on and
    off: a second site with it off on the same database, the two asked in turn;
(f) with wrk (a C load generator, so the client takes little of the 2 cores): the single
    prediction at concurrency 1 and 16, "before" (the model files of the release before the
    clinical-context work, git revision BEFORE_REV, with the prediction log written inside the
    request) and "after" (these files, the log written by a thread per worker), in this run;
(g) with wrk, the request path: the JSON API's throughput at concurrency N as a share of the
    same server's floor (``/healthz``: gunicorn, WSGI and the first middleware, no view), and
    the API's median and p99 at concurrency 1, with gunicorn.conf.py as shipped and the rate
    limits, the API-key check and the prediction log on; ``--before-rev REV`` runs the code of
    another revision beside this one in the same rounds; then where this checkout's API CPU
    goes (bench/request_cost.py: its parts in one process, and the share of the floor it would
    reach were a part free). ``--request-path`` runs (g) alone:

    .venv/bin/python bench/serving.py --request-path [--before-rev REV] [--path-rounds 3]

``LoopbackSite`` is also what tests/test_serving_faults.py uses to run the site.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.request_cost import implied_shares, print_parts, print_shares  # noqa: E402
from predictor.catalogue import (  # noqa: E402
    COMBINATION_CODES,
    FACTORS_BY_KEY,
    HORIZONS,
    combination_factor_keys,
    slot_name,
)

PYTHON = Path(sys.executable)
GUNICORN = PYTHON.with_name("gunicorn")


# The rate limiter on, as in production, with a limit one loopback client never reaches.
LIMITS_OUT_OF_REACH = {"PRCRS_RATE_LIMITS": "1", "PRCRS_RATE_LIMIT_PREDICTIONS": str(10**9)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_tiny_models(directory: Path) -> None:
    """18 tiny real TorchScript files (the tests' kind) named as bundled files are."""
    from tests.model_files import tiny_model_bytes

    directory.mkdir(parents=True, exist_ok=True)
    for h in HORIZONS:
        for code in COMBINATION_CODES:
            (directory / f"{slot_name(h, code)}.pt").write_bytes(
                tiny_model_bytes(h, code, bias=0.1 * h))


def bundled_models_or_tiny(work: Path) -> tuple[Path, bool]:
    """(directory of the 18 model files, whether they are the real bundled ones)."""
    bundled = ROOT / "models_store"
    if all((bundled / f"{slot_name(h, c)}.pt").exists() for h in HORIZONS
           for c in COMBINATION_CODES):
        return bundled, True
    tiny = work / "tiny_models"
    write_tiny_models(tiny)
    return tiny, False


class LoopbackSite:
    """PrCRS web under gunicorn on 127.0.0.1 with a scratch database and models directory."""

    def __init__(self, work: Path, bundled: Path, *, workers: int = 2, threads: int = 4,
                 database_url: str | None = None, env: dict[str, str] | None = None,
                 root: Path = ROOT):
        self.work = work
        self.root = root  # the checkout whose code runs (another revision's, for a "before")
        self.port = free_port()
        self.workers = workers
        self.db_dir = work / "db"
        self.log_path = work / "gunicorn.log"
        self.process: subprocess.Popen | None = None
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("DJANGO_", "GUNICORN_", "PRCRS_", "DATABASE_"))} | {
            "DJANGO_SETTINGS_MODULE": "prcrs_site.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "loopback-only-" + "k" * 40,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_LOG_FORMAT": "json",
            # Never the caller's DATABASE_URL by accident: a scratch SQLite file unless given.
            "DATABASE_URL": database_url or f"sqlite:///{self.db_dir / 'db.sqlite3'}",
            "PRCRS_VAR_DIR": str(work / "var"),
            "PRCRS_MODELS_DIR": str(work / "models"),
            "PRCRS_BUNDLED_MODELS_DIR": str(bundled),
            "PRCRS_REGISTER_BUNDLED_MODELS": "1",
            "PRCRS_DEVICE": "cpu",
            # Rate limits (on in production) only where a test or bench turns them on: load
            # from one loopback address would otherwise run into them.
            "PRCRS_RATE_LIMITS": "0",
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": str(workers),
            "GUNICORN_THREADS": str(threads),
            "PYTHONUNBUFFERED": "1",
        } | (env or {})

    def migrate(self) -> None:
        self.db_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(PYTHON), "manage.py", "migrate", "--noinput", "-v0"], cwd=self.root,
                       env=self.env, check=True, capture_output=True, timeout=300)

    def start(self, timeout: float = 180) -> None:
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen([str(GUNICORN), "-c", "gunicorn.conf.py"], cwd=self.root,
                                        env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log_text()[-4000:]}")
            if len(self.ready_worker_pids()) >= self.workers:
                return
            time.sleep(0.2)
        raise TimeoutError(f"workers not ready in {timeout}s:\n{self.log_text()[-4000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "_log", None):
            self._log.close()

    def __enter__(self) -> LoopbackSite:
        self.migrate()
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_entries(self) -> Iterator[dict]:
        for line in self.log_text().splitlines():
            if line.startswith("{"):
                try:
                    yield json.loads(line)
                except ValueError:
                    continue

    def ready_worker_pids(self) -> set[int]:
        """Workers that said (in post_worker_init) that their models are loaded."""
        pids = {int(m) for m in re.findall(r"worker (\d+) ready", self.log_text())}
        return pids & set(self.worker_pids())

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        return children_of(self.process.pid)

    def connection(self, timeout: float = 30) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)


def children_of(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        if int(fields[1]) == parent:
            pids.append(int(entry.name))
    return sorted(pids)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pattern_values(code: str) -> dict[str, float]:
    """Values that make the site choose combination ``code``: its panels, mid typical range."""
    return {k: round(sum(FACTORS_BY_KEY[k].typical) / 2, 4) for k in combination_factor_keys(code)}


def post_json(conn: http.client.HTTPConnection, path: str, body: bytes,
              headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json",
                                                   **(headers or {})})
    response = conn.getresponse()
    return response.status, response.read()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


# --- (a) latency at concurrency 1 ---------------------------------------------------------------

def latency_per_combination(site: LoopbackSite, n: int) -> dict[str, list[float]]:
    conn = site.connection()
    out: dict[str, list[float]] = {}
    for code in COMBINATION_CODES:
        body = json.dumps({"values": pattern_values(code), "horizon": 1}).encode()
        for _ in range(20):  # warm: connection, catalogue cache, executor
            status, payload = post_json(conn, "/api/v1/predict", body)
        assert status == 200, payload
        assert json.loads(payload)["combination"] == code, payload
        times = []
        for _ in range(n):
            start = time.perf_counter()
            status, payload = post_json(conn, "/api/v1/predict", body)
            times.append((time.perf_counter() - start) * 1000)
            assert status == 200, payload
        out[code] = times
    conn.close()
    return out


# --- (b) throughput at concurrency N -------------------------------------------------------------

def _client_process(port: int, threads: int, seconds: float, start_at: float, queue) -> None:
    bodies = [json.dumps({"values": pattern_values(c), "horizon": 1}).encode()
              for c in COMBINATION_CODES]

    def run(index: int) -> tuple[list[float], int, int]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        times: list[float] = []
        errors = other = 0
        i = index
        while time.time() < start_at:
            time.sleep(0.001)
        end = start_at + seconds
        while time.time() < end:
            body = bodies[i % len(bodies)]
            i += 1
            start = time.perf_counter()
            try:
                status, _payload = post_json(conn, "/api/v1/predict", body)
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            times.append((time.perf_counter() - start) * 1000)
            if status != 200:
                other += 1
        conn.close()
        return times, errors, other

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(run, range(threads)))
    queue.put(([t for r in results for t in r[0]], sum(r[1] for r in results),
               sum(r[2] for r in results)))


def throughput(site: LoopbackSite, concurrency: int, seconds: float,
               processes: int) -> dict[str, float]:
    processes = max(1, min(processes, concurrency))
    per = [concurrency // processes + (1 if i < concurrency % processes else 0)
           for i in range(processes)]
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    start_at = time.time() + 2.0  # every client connected and waiting
    procs = [ctx.Process(target=_client_process, args=(site.port, n, seconds, start_at, queue))
             for n in per]
    for p in procs:
        p.start()
    results = [queue.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    times = [t for r in results for t in r[0]]
    return {"requests": len(times), "rps": len(times) / seconds,
            "median_ms": statistics.median(times) if times else float("nan"),
            "p99_ms": percentile(times, 99), "errors": sum(r[1] for r in results),
            "non_200": sum(r[2] for r in results)}


# --- (d) the original way ------------------------------------------------------------------------

ORIGINAL_WAY = r"""
import io, sys, zipfile, json
import numpy as np
import pandas as pd
import torch

path, values = sys.argv[1], json.loads(sys.argv[2])
module = torch.jit.load(path, map_location="cpu")
module.eval()
with zipfile.ZipFile(path) as archive:
    name = next(n for n in archive.namelist() if n.endswith("/extra/baseline.csv"))
    baseline = pd.read_csv(io.BytesIO(archive.read(name)))
baseline = baseline.sort_values("probability", ascending=False).reset_index(drop=True)
p = baseline["probability"].to_numpy()
y = baseline["severe"].to_numpy()
rates = []
for i in range(len(p)):
    w = 10 if p[i] > 0.8 else (15 if p[i] >= 0.3 else 20)
    rates.append(float(y[max(0, i - w):i + w + 1].mean()))
rates = sorted(rates, reverse=True)
x = torch.tensor([values], dtype=torch.float32)
with torch.no_grad():
    q = float(torch.softmax(module(x), dim=1)[0, 1])
print(json.dumps({"raw": q, "actual": rates[int(np.argmin(np.abs(p - q)))]}))
"""


def original_way(model_file: Path, values: list[float], runs: int) -> list[float]:
    times = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([str(PYTHON), "-c", ORIGINAL_WAY, str(model_file), json.dumps(values)],
                       check=True, capture_output=True, env=env, timeout=120)
        times.append((time.perf_counter() - start) * 1000)
    return times


# --- (e) the rate limiter's cost --------------------------------------------------------------

LIMITER_COST = r"""
import json, sys, time
import django
django.setup()
from django.conf import settings
from django.test import RequestFactory
from predictor.access.rate_limits import LIMITER, charge

n = int(sys.argv[1])
factory = RequestFactory()
def timed(requests, limit):
    settings.PRCRS_RATE_LIMITS, settings.PRCRS_RATE_LIMIT_PREDICTIONS = True, limit
    LIMITER.reset()
    for r in requests[:50]:
        charge(r, predictions=1)  # warm: rows, connection
    start = time.perf_counter()
    for i in range(n):
        r = requests[i % len(requests)]
        r.__dict__.pop("_prcrs_client_address", None)  # resolve the address every time
        assert charge(r, predictions=1) is None
    return (time.perf_counter() - start) / n * 1000
def clients(count, net):  # each case its own addresses: no budget carried over
    out = []
    for i in range(count):
        r = factory.post("/api/v1/predict", REMOTE_ADDR=f"10.{net}.{i // 250}.{i % 250}")
        r.api_key = None
        out.append(r)
    return out
print(json.dumps({"one_client": timed(clients(1, 1), 10**9),
                  "thousand_clients": timed(clients(1000, 2), 10**9),
                  "exact_limit_150": timed(clients(n // 100 + 1, 3), 150)}))
"""


def limiter_cost_in_process(site: LoopbackSite, n: int) -> dict[str, float]:
    """ms per charge() in a process on the site's own database, the way a worker calls it."""
    out = subprocess.run([str(PYTHON), "-c", LIMITER_COST, str(n)], cwd=ROOT, env=site.env,
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"limiter cost script failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def api_latency_pair(sites: tuple[LoopbackSite, LoopbackSite], code: str,
                     n: int) -> tuple[list[float], list[float]]:
    """Latency on two sites, request by request in turn, so load from elsewhere hits both."""
    conns = [site.connection() for site in sites]
    body = json.dumps({"values": pattern_values(code), "horizon": 1}).encode()
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(n + 50):
        for conn, out in zip(conns, times):
            start = time.perf_counter()
            status, payload = post_json(conn, "/api/v1/predict", body)
            if i >= 50:  # the first 50 warm the connections and the workers
                out.append((time.perf_counter() - start) * 1000)
            assert status == 200, payload
    for conn in conns:
        conn.close()
    return times


# --- (f) wrk: the single prediction before and after, same run ----------------------------------

# The release before the clinical-context work: labs-only files with the PrCRS network inside
# (ens3), and the prediction log committed on the request path.
BEFORE_REV = "8943944"


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def previous_models(work: Path, rev: str) -> Path:
    """The bundled model files as they were at git revision ``rev``."""
    folder = work / f"models-{rev}"
    folder.mkdir(parents=True, exist_ok=True)
    names = subprocess.run(["git", "ls-tree", "--name-only", rev, "models_store/"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in names:
        if name.endswith(".pt"):
            data = subprocess.run(["git", "show", f"{rev}:{name}"], cwd=ROOT, capture_output=True,
                                  check=True).stdout
            (folder / Path(name).name).write_bytes(data)
    return folder


def wrk(url: str, concurrency: int, seconds: float, *, post_json_body: bytes | None = None,
        script_dir: Path | None = None) -> dict:
    """One wrk run (a C load generator: the client costs the 2 cores far less than a Python one)
    against ``url``: a GET, or a JSON POST of ``post_json_body``."""
    command = ["wrk", f"-t{min(2, concurrency)}", f"-c{concurrency}", f"-d{seconds:.0f}s",
               "--latency"]
    if post_json_body is not None:
        assert script_dir is not None
        script = script_dir / "post.lua"
        script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                          f"wrk.body = [[{post_json_body.decode()}]]\n")
        command += ["-s", str(script)]
    out = subprocess.run(command + [url], capture_output=True, text=True,
                         timeout=seconds + 60).stdout

    def grab(pattern: str, default: str = "0") -> str:
        found = re.search(pattern, out)
        return found.group(1) if found else default

    def ms(text: str) -> float:
        found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
        if not found:
            return float("nan")
        return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[
            found.group(2)]

    return {"rps": float(grab(r"Requests/sec:\s+([\d.]+)")),
            "requests": int(grab(r"(\d+) requests in")),
            "median_ms": ms(grab(r"50%\s+([\d.]+\w+)")), "p99_ms": ms(grab(r"99%\s+([\d.]+\w+)")),
            "non_2xx": int(grab(r"Non-2xx or 3xx responses:\s+(\d+)")),
            "socket_errors": grab(r"Socket errors:\s+(.*)", "none")}


def wrk_run(site: LoopbackSite, body: bytes, concurrency: int, seconds: float) -> dict:
    """wrk posting ``body`` to the site's JSON API."""
    return wrk(f"http://127.0.0.1:{site.port}/api/v1/predict", concurrency, seconds,
               post_json_body=body, script_dir=site.work)


def wrk_before_after(work: Path, bundled: Path, args, env: dict) -> None:
    body = json.dumps({"values": pattern_values("4"), "horizon": 1}).encode()
    configs = [
        (f"before ({BEFORE_REV}: labs-only files with the network, log written in the request)",
         previous_models(work, BEFORE_REV), env | {"PRCRS_PREDICTION_LOG_ASYNC": "0"}),
        ("after (these files, log written by a thread per worker)", bundled, env),
    ]
    for label, models, site_env in configs:
        folder = work / f"wrk-{len(label)}"
        folder.mkdir()
        site = LoopbackSite(folder, models, workers=args.workers, threads=args.threads,
                            env=site_env)
        try:
            site.migrate()
            site.start()
            wrk_run(site, body, args.concurrency, 3)  # warm-up
            one = wrk_run(site, body, 1, args.wrk_seconds)
            many = wrk_run(site, body, args.concurrency, args.wrk_seconds)
        finally:
            site.stop()
        print(f"    {label}:")
        print(f"      c=1: {one['rps']:.0f}/s, median {one['median_ms']:.2f} ms, p99 "
              f"{one['p99_ms']:.2f} ms; c={args.concurrency}: {many['rps']:.0f} predictions/s, "
              f"median {many['median_ms']:.2f} ms, p99 {many['p99_ms']:.2f} ms, non-2xx "
              f"{many['non_2xx']}, socket errors {many['socket_errors']}")


# --- (g) the request path: the API against the same server's floor ---------------------------

def checkout_of(rev: str, work: Path) -> Path:
    """The project's files at git revision ``rev`` in a scratch folder (``git archive``: no
    worktree registered in the repository), with its messages compiled, to run as a "before"."""
    folder = work / f"code-{rev}"
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    subprocess.run([str(PYTHON), "manage.py", "compilemessages", "-v0"], cwd=folder, check=True,
                   capture_output=True, timeout=300)
    return folder


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far (their own, not their children's)."""
    ticks = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def served_with_cpu(site: LoopbackSite, run) -> dict:
    """``run()``'s wrk figures plus ``cpu_ms``: the server's CPU (master and workers) per
    answered request during the run. Less at the mercy of other load on the machine than the
    throughput: a busy machine slows the server, it does not make it do more work."""
    pids = [site.process.pid, *site.worker_pids()]
    before = cpu_seconds(pids)
    result = run()
    used = cpu_seconds(pids) - before
    replaced = site.worker_pids() != pids[1:]  # a worker's time went with it: no figure
    result["cpu_ms"] = (used * 1000 / result["requests"] if result.get("requests") and not replaced
                        else float("nan"))
    return result


def request_path(sites: list[tuple[str, LoopbackSite]], *, concurrency: int, seconds: float,
                 rounds: int) -> dict[str, dict]:
    """Per site: the JSON API's throughput at ``concurrency`` as a share of the same server's
    /healthz (the floor: gunicorn, WSGI and the first middleware, no view), and the API alone at
    concurrency 1. Rounds take every site and path in turn, so load from elsewhere on the
    machine weighs on all of them; the figures are medians over the rounds."""
    body = json.dumps({"values": pattern_values("4"), "horizon": 1}).encode()
    runs: dict[str, dict[str, list[dict]]] = {label: {"floor": [], "api": [], "one": []}
                                               for label, _ in sites}
    for label, site in sites:  # warm: connections, catalogue cache, first forwards
        wrk_run(site, body, concurrency, 2)
    for _ in range(rounds):
        for label, site in sites:
            floor_url = f"http://127.0.0.1:{site.port}/healthz"
            runs[label]["floor"].append(served_with_cpu(
                site, lambda: wrk(floor_url, concurrency, seconds)))
            runs[label]["api"].append(served_with_cpu(
                site, lambda: wrk_run(site, body, concurrency, seconds)))
            runs[label]["one"].append(wrk_run(site, body, 1, seconds))
    out = {}
    for label, found in runs.items():
        shares = [a["rps"] / f["rps"] for a, f in zip(found["api"], found["floor"]) if f["rps"]]
        out[label] = {
            "floor_rps": statistics.median(r["rps"] for r in found["floor"]),
            "api_rps": statistics.median(r["rps"] for r in found["api"]),
            "share": statistics.median(shares) if shares else float("nan"),
            "shares": shares,
            "floor_cpu_ms": _median_known(r["cpu_ms"] for r in found["floor"]),
            "api_cpu_ms": _median_known(r["cpu_ms"] for r in found["api"]),
            "one_median_ms": statistics.median(r["median_ms"] for r in found["one"]),
            "one_p99_ms": statistics.median(r["p99_ms"] for r in found["one"]),
            "one_p99s": [r["p99_ms"] for r in found["one"]],
            "errors": sum(r["non_2xx"] for k in ("floor", "api", "one") for r in found[k])
            + sum(r["socket_errors"] != "none" for k in ("floor", "api", "one")
                  for r in found[k]),
        }
    return out


def _median_known(values) -> float:
    known = [v for v in values if math.isfinite(v)]
    return statistics.median(known) if known else float("nan")


def print_request_path(results: dict[str, dict], concurrency: int) -> None:
    for label, r in results.items():
        print(f"    {label}:")
        print(f"      c={concurrency}: API {r['api_rps']:.0f} predictions/s = "
              f"{r['share']:.2f} of the floor (/healthz {r['floor_rps']:.0f}/s); per round "
              + ", ".join(f"{x:.2f}" for x in r["shares"]) + " (target >= 0.5)")
        print(f"      server CPU per answer at c={concurrency}: /healthz {r['floor_cpu_ms']:.2f} ms, "
              f"API {r['api_cpu_ms']:.2f} ms (floor/API {r['floor_cpu_ms'] / r['api_cpu_ms']:.2f}; "
              "the client's CPU not counted)")
        print(f"      c=1: API median {r['one_median_ms']:.2f} ms, p99 {r['one_p99_ms']:.2f} ms; "
              "per round p99 " + ", ".join(f"{x:.1f}" for x in r["one_p99s"])
              + " ms (target p99 < 10 ms)")
        print(f"      non-2xx answers or socket errors: {r['errors']}")


def request_path_section(work: Path, bundled: Path, args, env: dict) -> None:
    print(f"\n(g) request path, wrk: the JSON API (combination 4, horizon 1; rate limits, API-key "
          f"check and prediction log on) against /healthz on the same server, gunicorn.conf.py "
          f"as shipped ({args.workers} workers x {args.threads} threads; no max_requests recycling "
          f"during the rounds), c={args.concurrency}, "
          f"and the API at c=1; {args.path_rounds} rounds of {args.path_seconds:.0f} s, medians")
    roots = [("this checkout", ROOT)]
    if args.before_rev:
        roots.insert(0, (f"before (git revision {args.before_rev})",
                         checkout_of(args.before_rev, work)))
    sites = []
    try:
        for n, (label, root) in enumerate(roots):
            folder = work / f"path-{n}"
            folder.mkdir()
            # No recycling during the rounds: at ~3,000 answers/s a worker would reach
            # max_requests within a minute and its reload (models, URLconf) would be measured.
            site = LoopbackSite(folder, bundled, workers=args.workers, threads=args.threads,
                                env=env | {"GUNICORN_MAX_REQUESTS": "0"}, root=root)
            sites.append((label, site))
            site.migrate()
            site.start()
        results = request_path(sites, concurrency=args.concurrency, seconds=args.path_seconds,
                               rounds=args.path_rounds)
    finally:
        for _, site in sites:
            site.stop()
    print_request_path(results, args.concurrency)
    # Where this checkout's API CPU goes: its parts in one process, on the site's database and
    # environment, the servers stopped so nothing else runs.
    label, site = sites[-1]
    parts = in_process_parts(site)
    print(f"    {label}, where the API's CPU goes:")
    print_parts(parts, indent="      ")
    print_shares(implied_shares(results[label]["floor_cpu_ms"], results[label]["api_cpu_ms"],
                                parts), indent="      ")


def in_process_parts(site: LoopbackSite, runs: int = 2000, blocks: int = 5) -> dict[str, float]:
    """bench/request_cost.py's parts, run in a process of its own with the site's environment."""
    out = site.work / "request-cost.json"
    subprocess.run([str(PYTHON), str(ROOT / "bench" / "request_cost.py"), "--runs", str(runs),
                    "--blocks", str(blocks), "--json-out", str(out)],
                   cwd=ROOT, env=site.env, check=True, capture_output=True, timeout=600)
    return json.loads(out.read_text())


# --- main ------------------------------------------------------------------------------------------

def cpu_note() -> str:
    load1, load5, _ = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load1:.2f} (1 min) / {load5:.2f} (5 min)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="per combination, for (a)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--original-runs", type=int, default=10)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("GUNICORN_WORKERS", 4)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("GUNICORN_THREADS", 2)))
    parser.add_argument("--path-rounds", type=int, default=3,
                        help="for (g): rounds of floor / API c=N / API c=1")
    parser.add_argument("--path-seconds", type=float, default=5, help="for (g): seconds per wrk run")
    parser.add_argument("--request-path", action="store_true",
                        help="run only (g), the request path against the floor")
    parser.add_argument("--before-rev", help="for (g): also run the code of this git revision "
                        "(same models, same settings), in the same rounds")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--database-url", help="instead of a scratch SQLite file, e.g. "
                        "postgres://... (its tables are migrated)")
    parser.add_argument("--no-prediction-log", action="store_true",
                        help="PRCRS_PREDICTION_LOG=0 (no database write per prediction)")
    parser.add_argument("--limiter-requests", type=int, default=1000,
                        help="for (e): API requests with the limiter on and off")
    parser.add_argument("--wrk-seconds", type=float, default=15,
                        help="for (f): seconds per wrk run (0 skips (f))")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="prcrs-bench-"))
    bundled, real = bundled_models_or_tiny(work)
    print(f"PrCRS web serving benchmark ({time.strftime('%Y-%m-%d %H:%M:%S %Z')})")
    print(f"machine: {cpu_note()}")
    tiny_note = ("TINY STAND-IN MODELS (the bundled models_store/ files are not there yet): "
                 "re-run after training lands")
    print(f"models: {'bundled models_store/' if real else tiny_note}")
    print(f"database: {'--database-url' if args.database_url else 'SQLite (scratch, WAL)'}; "
          f"gunicorn {args.workers} workers x {args.threads} threads, 1 torch thread each")
    env = {"PRCRS_PREDICTION_LOG": "0"} if args.no_prediction_log else {}
    print(f"prediction log: {'off' if args.no_prediction_log else 'on (one row per prediction)'}")
    # As in production the limiter runs on every prediction; its limit is raised so the load
    # is never refused (one client sends everything). (e) compares with the limiter off.
    env |= LIMITS_OUT_OF_REACH
    print("rate limits: on, limit raised out of reach ((e) measures their cost)")
    if args.request_path:
        if not wrk_available():
            raise SystemExit("(g) needs wrk (Debian package wrk)")
        try:
            request_path_section(work, bundled, args, env)
            print(f"\nafter: {cpu_note()}")
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
        return
    site = LoopbackSite(work, bundled, workers=args.workers, threads=args.threads,
                        database_url=args.database_url, env=env)
    try:
        start = time.perf_counter()
        site.migrate()
        site.start()
        print(f"start-up: migrate + {args.workers} workers loading every bundled model: "
              f"{time.perf_counter() - start:.1f} s")

        print(f"\n(a) JSON API, concurrency 1, {args.requests} requests per combination")
        per_combo = latency_per_combination(site, args.requests)
        for code, times in per_combo.items():
            print(f"    combination {code:>4} ({len(combination_factor_keys(code)):2d} inputs): "
                  f"median {statistics.median(times):6.2f} ms   p99 {percentile(times, 99):6.2f} ms")
        all_times = [t for times in per_combo.values() for t in times]
        median_a = statistics.median(all_times)
        print(f"    all: median {median_a:.2f} ms, p99 {percentile(all_times, 99):.2f} ms "
              f"(target: median < 5 ms)")

        print(f"\n(b) throughput, concurrency {args.concurrency}, {args.seconds:.0f} s, client "
              f"{args.client_processes} processes with threads on the same cores")
        tp = throughput(site, args.concurrency, args.seconds, args.client_processes)
        print(f"    {tp['requests']} requests: {tp['rps']:.0f} predictions/s, median "
              f"{tp['median_ms']:.2f} ms, p99 {tp['p99_ms']:.2f} ms, errors {tp['errors']}, "
              f"non-200 {tp['non_200']} (target: >= 400/s, zero errors)")

        print("\n(c) resident memory per worker, all bundled models loaded")
        for pid in site.worker_pids():
            print(f"    worker {pid}: {rss_mib(pid):.0f} MiB VmRSS (target < 400 MiB)")
        print(f"    master {site.process.pid}: {rss_mib(site.process.pid):.0f} MiB")

        print(f"\n(d) original way, {args.original_runs} runs: fresh process, import torch + "
              "pandas, load the TorchScript file, read baseline.csv, build the table, predict")
        model_file = bundled / f"{slot_name(1, '1234')}.pt"
        values = list(pattern_values("1234").values())
        times_d = original_way(model_file, values, args.original_runs)
        median_d = statistics.median(times_d)
        print(f"    median {median_d:.0f} ms, min {min(times_d):.0f} ms, max {max(times_d):.0f} ms")
        median_a_1234 = statistics.median(per_combo["1234"])
        print(f"\nratio (d)/(a): {median_d / median_a:.0f}x (all combinations), "
              f"{median_d / median_a_1234:.0f}x (combination 1234, the file (d) used); "
              "target >= 300x")

        print(f"\n(e) rate limiter cost (target < 0.2 ms per request): charge() in a process "
              f"on the site's database, {args.limiter_requests * 10} calls per case")
        cost = limiter_cost_in_process(site, args.limiter_requests * 10)
        print(f"    one client, batched: {cost['one_client'] * 1000:.1f} us per call; 1,000 "
              f"clients round robin: {cost['thousand_clients'] * 1000:.1f} us; a limit of 150 "
              f"(no batching, one database statement each): {cost['exact_limit_150']:.3f} ms")
        # A second site on the same database with the limiter off, asked in turn with this one.
        (work / "limiter-off").mkdir()
        off_site = LoopbackSite(work / "limiter-off", bundled, workers=args.workers,
                                threads=args.threads, database_url=site.env["DATABASE_URL"],
                                env=env | {"PRCRS_RATE_LIMITS": "0"})
        try:
            off_site.start()
            on, off = api_latency_pair((site, off_site), "4", args.limiter_requests)
        finally:
            off_site.stop()
        print(f"    JSON API, combination 4, {args.limiter_requests} requests to each of two "
              f"sites in turn: median {statistics.median(on):.3f} ms limiter on, "
              f"{statistics.median(off):.3f} ms off, difference "
              f"{statistics.median(on) - statistics.median(off):+.3f} ms")
        if args.wrk_seconds and wrk_available():
            site.stop()  # (f) starts its own sites; leave the cores to them
            print(f"\n(f) wrk, the single prediction (combination 4, horizon 1), c=1 and "
                  f"c={args.concurrency}, {args.wrk_seconds:.0f} s each, before and after "
                  f"(target: >= 800 predictions/s at c=16)")
            wrk_before_after(work, bundled, args, env)
            request_path_section(work, bundled, args, env)
        elif args.wrk_seconds:
            print("\n(f) skipped: wrk is not installed (Debian package wrk)")
        print(f"\nafter: {cpu_note()}")
    finally:
        site.stop()
        if args.keep:
            print(f"scratch directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
