"""Scale-out exercised for real, on loopback: two app replicas, one PostgreSQL, nginx in front.

- Replicas: two gunicorn processes with the production settings (``bench.serving.LoopbackSite``:
  ``DJANGO_DEBUG=0``, JSON logs, gunicorn.conf.py), each with its own model-file cache, one
  worker each (the machine has two shared cores). Gunicorn processes rather than containers:
  they start in seconds and can be killed precisely; the image itself is tested by
  tests/test_container.py.
- PostgreSQL: Debian's server, a throwaway cluster started, stopped and restarted by the test.
- nginx: Debian's nginx running deploy/nginx.conf itself (tests/nginx_proxy.py rewrites only the
  upstream addresses, the port and the log/temp paths). Which replica answered is read from its
  JSON access log (``upstream``).

Loads are bounded (a few hundred requests, timeouts on every call); everything started here is
stopped at the end. Figures are printed (``-s`` shows them) and kept in the assertions' text.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench.serving import LoopbackSite, children_of, free_port, pattern_values, write_tiny_models
from tests.admin_http import AdminSession
from tests.model_files import tiny_model_bytes
from tests.nginx_proxy import access_log_entries, nginx_proxy
from tests.required_tools import (
    nginx_problem,
    postgresql_bin,
    postgresql_problem,
    requires_tool,
)

ROOT = Path(__file__).resolve().parent.parent


pytestmark = [
    pytest.mark.slow,
    pytest.mark.scaleout,
    requires_tool(nginx_problem()),
    requires_tool(postgresql_problem()),
]

ADMIN_USER, ADMIN_PASSWORD = "scaleout-admin", "Scale-out-only-7f3a9c"
BODY = json.dumps({"values": pattern_values("4"), "horizon": 1}).encode()


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary folder on 127.0.0.1 that the test can stop and start.

    As root the cluster belongs to the ``postgres`` user (PostgreSQL refuses to run as root),
    as scripts/with_postgres.sh does it.
    """

    def __init__(self, work: Path):
        self.bin = postgresql_bin()
        self.work = work
        self.data = work / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/prcrs"
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            if subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
                subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                                "/usr/sbin/nologin", "postgres"], check=True)
            self._as_owner = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 120) -> None:
        result = subprocess.run([*self._as_owner, *args], capture_output=True, text=True,
                                timeout=timeout)
        if result.returncode != 0:
            log = (self.work / "server.log")
            raise RuntimeError(f"{args[0]} failed: {result.stderr}\n"
                               f"{log.read_text()[-2000:] if log.exists() else ''}")

    def create(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "run").mkdir(exist_ok=True)
        self.work.chmod(0o755)
        if self._as_owner:
            shutil.chown(self.work, "postgres")
            shutil.chown(self.work / "run", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8")
        self.start()
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", "postgres", "prcrs")

    def start(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.work / "server.log"), "-w", "-t", "60", "start", "-o",
                  f"-h 127.0.0.1 -p {self.port} -k {self.work / 'run'} -c fsync=off "
                  f"-c max_connections=100")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        subprocess.run([*self._as_owner, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m",
                        "immediate", "stop"], capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)

    def count_prediction_log(self) -> int:
        import psycopg

        with psycopg.connect(self.url.replace("postgres://", "postgresql://"),
                             connect_timeout=10) as conn:
            return conn.execute("SELECT count(*) FROM predictor_predictionlog").fetchone()[0]


class Cluster:
    """PostgreSQL + replicas A and B (LoopbackSite) + the nginx log folder."""

    def __init__(self, work: Path):
        self.work = work
        bundle = work / "bundle"
        write_tiny_models(bundle)
        self.pg = ThrowawayPostgres(work / "pg")
        env = {"DATABASE_CONN_MAX_AGE": "0", "GUNICORN_ACCESS_LOG": "",
               "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"}
        self.a = LoopbackSite(work / "a", bundle, workers=1, threads=4, database_url=self.pg.url,
                              env=env)
        self.b = LoopbackSite(work / "b", bundle, workers=1, threads=4, database_url=self.pg.url,
                              env=env)
        self.nginx_logs = work / "nginx"

    def start(self) -> None:
        self.pg.create()
        self.a.migrate()  # once, as deploy/compose.yaml's migrate service does
        subprocess.run([sys.executable, "manage.py", "createsuperuser",
                        "--noinput", "-v0"], cwd=ROOT, check=True, capture_output=True,
                       timeout=120, env=self.a.env | {
                           "DJANGO_SUPERUSER_USERNAME": ADMIN_USER,
                           "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
                           "DJANGO_SUPERUSER_EMAIL": "admin@example.org"})
        self.b.work.mkdir(parents=True, exist_ok=True)  # B never migrates: no folder yet
        self.a.start()
        self.b.start()

    def stop(self) -> None:
        for site in (self.a, self.b):
            site.stop()
        self.pg.destroy()

    def upstreams(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", self.a.port), ("127.0.0.1", self.b.port)]


@pytest.fixture(scope="module")
def cluster():
    work = Path(tempfile.mkdtemp(prefix="prcrs-scaleout-"))
    os.chmod(work, 0o755)
    cluster = Cluster(work)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def _predict(base_port: int, body: bytes = BODY, *, timeout: float = 20) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", base_port, timeout=timeout)
    try:
        conn.request("POST", "/api/v1/predict?lang=en", body=body,
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, {"raw": raw[:200].decode("latin-1")}
    finally:
        conn.close()


def _port(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1])


def _get_status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return -1
    finally:
        conn.close()


def _load(port: int, *, requests: int, concurrency: int, pace: float = 0.0,
          on_progress=None) -> Counter:
    """``requests`` predictions through ``port``; Counter of statuses (-1: no answer; CUT: the
    status line came, then the connection closed inside the body)."""
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def one(_: int) -> None:
        try:
            status, _body = _predict(port)
        except http.client.IncompleteRead:
            status = CUT
        except (OSError, http.client.HTTPException):
            status = -1
        with lock:
            outcomes[status] += 1
            done = sum(outcomes.values())
        if on_progress is not None:
            on_progress(done)
        if pace:
            time.sleep(pace)

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(requests)))
    return outcomes


# An answer cut off inside its body: the replica died between writing the status line and the
# rest (gunicorn writes them with two calls), and nginx had already passed the status line on.
# No proxy can retry a response its client has begun to receive.
CUT = -2


def _kill_replica(site: LoopbackSite) -> None:
    """SIGKILL the master and its workers at once: a replica that dies, not one that stops."""
    assert site.process is not None
    pids = [site.process.pid, *children_of(site.process.pid)]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    site.process.wait(timeout=10)


def _killed_replica_run(cluster: Cluster, *, retry: bool, log_dir: Path) -> Counter:
    """300 predictions at concurrency 6 through nginx; replica B killed after 100 answers.
    B is started again afterwards."""
    killed = threading.Event()

    def progress(done: int) -> None:
        if done >= 100 and not killed.is_set():
            killed.set()
            _kill_replica(cluster.b)

    with nginx_proxy(cluster.upstreams(), retry=retry, log_dir=log_dir) as url:
        outcomes = _load(_port(url), requests=300, concurrency=6, on_progress=progress)
    assert killed.is_set()
    cluster.b.stop()
    cluster.b.start()
    return outcomes


def test_predictions_through_nginx_are_answered_by_both_replicas(cluster):
    log_dir = cluster.work / "nginx-both"
    with nginx_proxy(cluster.upstreams(), log_dir=log_dir) as url:
        outcomes = _load(_port(url), requests=60, concurrency=4)
    assert outcomes == Counter({200: 60}), outcomes
    time.sleep(0.2)  # nginx writes its access log line after the response
    upstreams = Counter(e["upstream"] for e in access_log_entries(log_dir)
                        if e["uri"].startswith("/api/v1/predict"))
    print(f"\nanswers per replica: {dict(upstreams)}")
    assert set(upstreams) == {f"127.0.0.1:{cluster.a.port}", f"127.0.0.1:{cluster.b.port}"}
    # least_conn balances by open connections, not turns: a replica that answers faster (a
    # warm TorchScript graph, a core less busy) takes more. Both must take a share.
    assert min(upstreams.values()) >= 1, upstreams


def test_a_model_activated_through_replica_a_is_served_by_replica_b_within_one_second(cluster):
    status, before = _predict(cluster.b.port)
    assert status == 200, before
    admin = AdminSession(f"http://127.0.0.1:{cluster.a.port}")
    admin.login(ADMIN_USER, ADMIN_PASSWORD)
    pk = admin.upload(horizon=1, combination="4", notes="scale-out test",
                      model=tiny_model_bytes(1, "4", bias=1.5))
    admin.activate(pk)  # the transaction is committed when the redirect comes back
    activated = time.monotonic()
    # Poll both replicas directly (no nginx in between) until each serves the new version.
    switched: dict[str, float] = {}
    answers: dict[str, dict] = {}
    while len(switched) < 2 and time.monotonic() - activated < 5:
        for name, site in (("b", cluster.b), ("a", cluster.a)):
            if name in switched:
                continue
            status, answer = _predict(site.port, timeout=5)
            assert status == 200, answer
            if answer["model_version"] != before["model_version"]:
                switched[name] = time.monotonic() - activated
                answers[name] = answer
        time.sleep(0.01)
    print(f"\nswitch after the activation on A: replica B {switched.get('b')} s, "
          f"replica A {switched.get('a')} s")
    assert set(switched) == {"a", "b"}, (before["model_version"], switched)
    assert switched["b"] < 1.0, switched
    assert answers["a"]["model_version"] == answers["b"]["model_version"]
    assert answers["a"]["probability"] == answers["b"]["probability"]


def test_a_replica_killed_under_load_fails_no_prediction_when_nginx_retries(cluster):
    without = _killed_replica_run(cluster, retry=False, log_dir=cluster.work / "nginx-noretry")
    with_retry = _killed_replica_run(cluster, retry=True, log_dir=cluster.work / "nginx-retry")
    failed_without = sum(n for s, n in without.items() if s != 200)
    failed_with = sum(n for s, n in with_retry.items() if s != 200)
    print(f"\nreplica killed under 300 requests: failed without retries {failed_without} "
          f"({dict(without)}), with deploy/nginx.conf's retries {failed_with} "
          f"({dict(with_retry)})")
    # The control: the same kill without nginx's retries does cost predictions, so the test
    # can tell the difference.
    assert sum(n for s, n in without.items() if s not in (200, CUT)) > 0, without
    # With the retries no request goes unanswered. The one failure no proxy can hide: an answer
    # the replica was writing at the instant it died (status line sent, body not), at most one
    # per request in flight (6); seen about once in five runs.
    assert set(with_retry) <= {200, CUT}, with_retry
    assert with_retry[CUT] <= 6, with_retry
    assert with_retry[200] + with_retry[CUT] == 300, with_retry
    # Both replicas serve again afterwards.
    assert _predict(cluster.b.port)[0] == 200


def _fallback_lines(site: LoopbackSite) -> int:
    count = 0
    for entry in site.log_entries():
        if entry.get("logger") == "predictor.prediction_log":
            try:
                record = json.loads(entry["message"])
            except (KeyError, ValueError):
                continue
            count += isinstance(record, dict) and "model_version" in record
    return count


def _steady_count(pg, *, settle: float = 0.3, limit: float = 5.0) -> int:
    """The prediction-log row count once two reads ``settle`` seconds apart agree."""
    deadline = time.monotonic() + limit
    count = pg.count_prediction_log()
    while time.monotonic() < deadline:
        time.sleep(settle)
        again = pg.count_prediction_log()
        if again == count:
            break
        count = again
    return count


def test_postgresql_restarted_under_load_loses_no_prediction_and_no_log_record(cluster):
    for site in (cluster.a, cluster.b):
        assert _get_status(site.port, "/readyz") == 200
    rows_before = _steady_count(cluster.pg)  # earlier tests' queued records written first
    fallback_before = _fallback_lines(cluster.a) + _fallback_lines(cluster.b)
    readyz: dict[str, list[int]] = {"a": [], "b": []}
    outage = {}

    begin = threading.Event()

    def outage_script() -> None:
        begin.wait(timeout=60)  # after 40 answers: the load runs on both sides of the outage
        cluster.pg.stop("fast")
        outage["stopped"] = time.monotonic()
        for _ in range(20):  # both replicas notice (bounded: 20 x 0.1 s)
            readyz["a"].append(_get_status(cluster.a.port, "/readyz"))
            readyz["b"].append(_get_status(cluster.b.port, "/readyz"))
            if readyz["a"][-1] == 503 and readyz["b"][-1] == 503:
                break
            time.sleep(0.1)
        time.sleep(1.0)  # predictions go on without the database
        cluster.pg.start()
        outage["started"] = time.monotonic()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            readyz["a"].append(_get_status(cluster.a.port, "/readyz"))
            readyz["b"].append(_get_status(cluster.b.port, "/readyz"))
            if readyz["a"][-1] == 200 and readyz["b"][-1] == 200:
                outage["ready"] = time.monotonic()
                break
            time.sleep(0.1)

    script = threading.Thread(target=outage_script)
    with nginx_proxy(cluster.upstreams(), log_dir=cluster.work / "nginx-pg") as url:
        script.start()
        # At least 300 / 4 x 0.04 s = 3 s of load: the outage (about 1.5 s from 40 answers
        # on) falls inside it, with requests before, during and after.
        outcomes = _load(_port(url), requests=300, concurrency=4, pace=0.04,
                         on_progress=lambda done: done >= 40 and begin.set())
        script.join(timeout=60)
    assert not script.is_alive()
    served = outcomes[200]
    time.sleep(0.5)  # log lines flushed
    rows_after = cluster.pg.count_prediction_log()
    fallback = _fallback_lines(cluster.a) + _fallback_lines(cluster.b) - fallback_before
    in_db = rows_after - rows_before
    # A prediction nginx re-sent to the other replica (deploy/nginx.conf: non_idempotent, for a
    # replica that fails mid-request) may have been scored, and logged, by both: one record more
    # than answers, by design. nginx's log lists both upstreams for such a request.
    retried = sum("," in entry.get("upstream", "")
                  for entry in access_log_entries(cluster.work / "nginx-pg")
                  if entry.get("uri", "").startswith("/api/v1/predict"))
    print(f"\nPostgreSQL stopped {outage.get('started', 0) - outage.get('stopped', 0):.1f} s "
          f"under 300 requests: {dict(outcomes)}; readyz A {readyz['a'][:3]}..{readyz['a'][-1:]}"
          f" B {readyz['b'][:3]}..{readyz['b'][-1:]}; ready again "
          f"{outage.get('ready', float('nan')) - outage.get('started', 0):.2f} s after the "
          f"restart; log records: {in_db} in the database + {fallback} in the JSON log "
          f"= {in_db + fallback} for {served} predictions ({retried} re-sent by nginx)")
    assert outcomes == Counter({200: 300}), outcomes
    for name in ("a", "b"):
        assert 503 in readyz[name] and readyz[name][-1] == 200, readyz
        assert readyz[name].index(503) < len(readyz[name]) - 1
    assert fallback > 0, "the outage did not hit any prediction-log write"
    # At least every prediction: a commit whose answer the outage cut is in both places (the
    # import tells it by its record id); fewer would be a lost record.
    assert in_db + fallback >= served, (in_db, fallback, served)

    # The fallback records get back into the database with the import command.
    logs = [str(cluster.a.log_path), str(cluster.b.log_path)]
    command = [sys.executable, "manage.py", "import_prediction_log", *logs]
    result = subprocess.run(command, cwd=ROOT, env=cluster.a.env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    imported = cluster.pg.count_prediction_log() - rows_before
    assert served <= imported <= served + retried, (imported, served, retried, result.stdout)
    again = subprocess.run(command, cwd=ROOT, env=cluster.a.env, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0  # and a second import adds nothing: records known by their id
    assert cluster.pg.count_prediction_log() - rows_before == imported, again.stdout
