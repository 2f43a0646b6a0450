"""Hot-swap proof: activate a new model version under load, with no restart and no failure.

    .venv/bin/python bench/hot_swap.py [--workers 3] [--clients 8] [--before 1.5] [--after 2.5]

A scratch directory holds an SQLite database and the models directory. ``migrate`` and a
``manage.py shell`` install tiny real TorchScript models for slot h1/4 (v1 active, v2 only
validated). gunicorn then serves the site with N sync workers on a free loopback port
(``-c /dev/null``: the repository's gunicorn.conf.py plays no part), while client threads keep
POSTing /api/v1/predict on fresh connections (8 of them keep all 3 workers busy; with fewer,
one worker tends to take nearly every connection). A separate process activates v2 through
``predictor.model_versions.versions.activate`` on the same database and prints the commit
time; later a second one rolls back to v1. gunicorn's access log records which worker (pid)
answered each request id, so the figures are per worker:

- time to full switch: from the commit to the send time of the last request still answered
  by the old version (after it, every response carries the new ``model_version``);
- failures: responses other than 200 and connection errors, over the whole run.

The prediction log is switched off here: SQLite serialises writers, and this measures swapping,
not logging.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = Path(sys.executable)
GUNICORN = PYTHON.with_name("gunicorn")
VALUES = {"il2": 3.1, "il4": 2.5, "il6": 48, "il10": 7.2, "tnf_alpha": 4.4, "ifn_gamma": 12,
          "il17a": 6}  # seven cytokines: combination 4
BODY = json.dumps({"values": VALUES, "horizon": 1}).encode()

INSTALL = """
from predictor.model_versions.baselines import parse_baseline_csv
from predictor.model_versions.model_files import read_extra_files, read_manifest
from predictor.model_versions.versions import activate, record_version
from tests.model_files import tiny_model_bytes
for bias, serve in ((0.0, True), (2.0, False)):
    data = tiny_model_bytes(1, "4", bias=bias)
    extras = read_extra_files(data)
    mv = record_version(horizon=1, combination="4", data=data, original_name="h1_c4.pt",
                        manifest=read_manifest(extras),
                        baseline=parse_baseline_csv(extras["baseline.csv"]))
    if serve:
        activate(mv)
"""

# started_at: before the transaction. committed_at is read after the commit returns, and a loaded
# machine may run this process again only after the workers have switched: the activation's
# window must end where the rollback starts, or the rollback's first answers count as late ones.
ACTIVATE = """
import json, time
from predictor.model_versions.versions import activate
from predictor.models import ModelVersion
mv = ModelVersion.objects.get(horizon=1, combination="4", version={version})
started_at = time.time()
activate(mv)
print(json.dumps({{"started_at": started_at, "committed_at": time.time(), "label": mv.label}}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def site_env(scratch: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "PRCRS_", "GUNICORN_", "DATABASE_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "prcrs_site.settings", "DJANGO_DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{scratch / 'db.sqlite3'}",
        "PRCRS_MODELS_DIR": str(scratch / "models"), "PRCRS_VAR_DIR": str(scratch),
        "PRCRS_REGISTER_BUNDLED_MODELS": "0", "PRCRS_PREDICTION_LOG": "0",
        "PRCRS_STAMP_CHECK_SECONDS": "0.25", "PRCRS_BACKGROUND_REFRESH": "1",
        "PRCRS_DEVICE": "cpu", "PRCRS_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1",
        "DJANGO_LOG_LEVEL": "WARNING", "DJANGO_LOG_FORMAT": "text",
        "PYTHONPATH": str(ROOT),
    })
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    result = subprocess.run([str(PYTHON), "manage.py", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


@dataclass
class Sample:
    request_id: str
    sent: float
    received: float
    status: int
    version: str | None
    error: str | None = None


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)


def client_loop(port: int, run: Run, name: str) -> None:
    n = 0
    while not run.stop.is_set():
        n += 1
        request_id = f"{name}-{n}"
        sent = time.time()
        try:  # a fresh connection each time, so the kernel spreads requests over the workers
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", "/api/v1/predict", BODY, {
                "Content-Type": "application/json", "X-Request-Id": request_id})
            response = conn.getresponse()
            payload = response.read()
            conn.close()
            version = json.loads(payload).get("model_version") if response.status == 200 \
                else None
            sample = Sample(request_id, sent, time.time(), response.status, version)
        except Exception as exc:  # noqa: BLE001 - every failure counts, whatever it is
            sample = Sample(request_id, sent, time.time(), 0, None, f"{type(exc).__name__}")
        with run.lock:
            run.samples.append(sample)


def wait_until_serving(port: int, deadline: float) -> None:
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", "/api/v1/predict", BODY, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the site did not start serving in time")


def read_access_log(path: Path) -> dict[str, int]:
    """request id -> worker pid, from lines written with the format '%(p)s %({x-request-id}i)s'."""
    workers = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] != "-":
            workers[parts[1]] = int(parts[0].strip("<>"))
    return workers


def switch_figures(samples: list[Sample], workers: dict[str, int], committed_at: float,
                   old: str, new: str, until: float) -> dict:
    """How long after the commit the old version was still answering, overall and per worker."""
    window = [s for s in samples if committed_at - 2 <= s.sent < until and s.status == 200]
    old_after = [s for s in window if s.version == old and s.sent >= committed_at]
    new_after = [s for s in window if s.version == new]
    last_old_sent = max((s.sent for s in old_after), default=committed_at)
    per_worker: dict[int, dict] = defaultdict(dict)
    for s in window:
        pid = workers.get(s.request_id)
        if pid is None:
            continue
        entry = per_worker[pid]
        if s.version == old and s.sent >= committed_at:
            entry["last_old_sent_s"] = round(max(entry.get("last_old_sent_s", 0),
                                                 s.sent - committed_at), 3)
        if s.version == new:
            entry["first_new_received_s"] = round(min(entry.get("first_new_received_s", 99),
                                                      s.received - committed_at), 3)
            entry["new_responses"] = entry.get("new_responses", 0) + 1
    late_old = [s for s in window if s.version == old and s.sent > last_old_sent]
    return {
        "from": old, "to": new,
        "time_to_full_switch_s": round(last_old_sent - committed_at, 3),
        "first_new_response_s": round(min((s.received for s in new_after),
                                          default=committed_at) - committed_at, 3),
        "old_version_responses_after_commit": len(old_after),
        "responses_after_full_switch": len([s for s in window if s.sent > last_old_sent]),
        "old_version_after_full_switch": len(late_old),
        "per_worker": {str(pid): figures for pid, figures in sorted(per_worker.items())},
    }


def run_hot_swap(*, workers: int = 3, clients: int = 8, before: float = 1.5,
                 after: float = 2.5, keep: bool = False) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix="prcrs-hot-swap-"))
    env = site_env(scratch)
    started = time.time()
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "shell", "-c", INSTALL)
    port = free_port()
    access_log = scratch / "access.log"
    server = subprocess.Popen(
        [str(GUNICORN), "prcrs_site.wsgi:application", "-c", "/dev/null", "-w", str(workers),
         "-b", f"127.0.0.1:{port}", "--timeout", "60", "--access-logfile", str(access_log),
         "--access-logformat", "%(p)s %({x-request-id}i)s", "--error-logfile",
         str(scratch / "error.log")],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    run = Run()
    threads: list[threading.Thread] = []
    try:
        wait_until_serving(port, time.time() + 90)
        setup_s = time.time() - started
        threads = [threading.Thread(target=client_loop, args=(port, run, f"c{i}"), daemon=True)
                   for i in range(clients)]
        for thread in threads:
            thread.start()
        # Each worker loads its models on its first request: wait until every one of them
        # has answered a few, so none comes to the switch without v1 already serving.
        warm_deadline = time.time() + 60
        while time.time() < warm_deadline:
            counts = Counter(read_access_log(access_log).values())
            if len(counts) >= workers and min(counts.values()) >= 5:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"not every worker answered while warming up: {counts}")
        time.sleep(before)
        switch = json.loads(manage(env, "shell", "-c", ACTIVATE.format(version=2))
                            .strip().splitlines()[-1])
        time.sleep(after)
        rollback = json.loads(manage(env, "shell", "-c", ACTIVATE.format(version=1))
                              .strip().splitlines()[-1])
        time.sleep(after)
        run.stop.set()
        for thread in threads:
            thread.join(timeout=15)
    finally:
        run.stop.set()
        try:
            os.killpg(server.pid, 15)
            server.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(server.pid, 9)
    time.sleep(0.2)
    samples = sorted(run.samples, key=lambda s: s.sent)
    by_worker = read_access_log(access_log)
    failures = [s for s in samples if s.status != 200]
    result = {
        "workers": workers, "clients": clients, "setup_s": round(setup_s, 1),
        "requests": len(samples),
        "requests_per_s": round(len(samples) / max(1e-9, samples[-1].received - samples[0].sent),
                                1) if samples else 0,
        "failures": len(failures),
        "failure_kinds": sorted({s.error or str(s.status) for s in failures}),
        "workers_seen": len(set(by_worker.values())),
        "activation": switch_figures(samples, by_worker, switch["committed_at"], "h1-4-v1",
                                     "h1-4-v2", rollback["started_at"]),
        "rollback": switch_figures(samples, by_worker, rollback["committed_at"], "h1-4-v2",
                                   "h1-4-v1", float("inf")),
        "scratch": str(scratch) if keep else None,
    }
    if not keep:
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--before", type=float, default=1.5)
    parser.add_argument("--after", type=float, default=2.5)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    result = run_hot_swap(workers=args.workers, clients=args.clients, before=args.before,
                          after=args.after, keep=args.keep)
    print(json.dumps(result, indent=2))
    for name in ("activation", "rollback"):
        figures = result[name]
        print(f"{name}: {figures['from']} -> {figures['to']}: every response carries "
              f"{figures['to']} from {figures['time_to_full_switch_s']:.3f} s after the commit "
              f"(first new answer at {figures['first_new_response_s']:.3f} s)")
    print(f"requests: {result['requests']} ({result['requests_per_s']}/s) over "
          f"{result['workers_seen']} workers, failures: {result['failures']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
