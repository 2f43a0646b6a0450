"""The Kubernetes manifests run for real with ``podman kube play`` on the image that
``make test-container`` builds (tests/kube_local.py makes the Pods from the manifests' own
pod templates): the migration Job's pod migrates a fresh database and exits 0; two pods of
the Deployment answer the probes' paths and a prediction; one pod is removed while the other
keeps answering predictions, none of which fails.

The two pods share one SQLite file on a host folder, standing in for the managed PostgreSQL a
cluster's DATABASE_URL names (tests/test_scaleout.py covers replicas on PostgreSQL).
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml

from bench.serving import free_port, pattern_values
from tests.kube_local import local_pod, manifest, probe_paths
from tests.podman_tools import IMAGE, build_image, podman
from tests.required_tools import podman_problem, requires_tool

pytestmark = [pytest.mark.slow, pytest.mark.container, requires_tool(podman_problem())]

UID = 10001  # the image's user, and the manifests' runAsUser
BODY = json.dumps({"values": pattern_values("4"), "horizon": 1}).encode()
# The Ingress terminates TLS and says so; the Deployment trusts that header
# (DJANGO_SECURE_PROXY_SSL_HEADER) and redirects plain HTTP (DJANGO_SECURE_SSL_REDIRECT).
FROM_INGRESS = {"X-Forwarded-Proto": "https"}


class KubePod:
    """One Pod made from a manifest, played with podman, on a free loopback port."""

    def __init__(self, work: Path, resource: dict, name: str, database: Path):
        self.name, self.port = name, free_port()
        pod = local_pod(
            resource, name=name, image=f"localhost/{IMAGE}",
            secrets={"prcrs": {"DJANGO_SECRET_KEY": "kube-test-" + secrets.token_hex(24),
                               "DATABASE_URL": "sqlite:////db/db.sqlite3"}},
            env={"GUNICORN_BIND": f"127.0.0.1:{self.port}", "GUNICORN_WORKERS": "1",
                 "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"},
            extra_mounts={"db": (database, "/db")})
        self.container = f"{name}-{pod['spec']['containers'][0]['name']}"
        self.file = work / f"{name}.yaml"
        self.file.write_text(yaml.safe_dump(pod, sort_keys=False))

    def play(self) -> None:
        podman("kube", "play", str(self.file), timeout=180)

    def down(self) -> None:
        podman("kube", "down", str(self.file), check=False, timeout=120)

    def state(self) -> tuple[str, int]:
        status, code = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}",
                              self.container).stdout.split()
        return status, int(code)

    def logs(self) -> str:
        result = podman("logs", self.container, check=False)
        return (result.stdout + result.stderr)[-3000:]

    def request(self, method: str, path: str, body: bytes | None = None,
                timeout: float = 30) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = dict(FROM_INGRESS)
            if body:
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def predict(self) -> tuple[int, dict]:
        status, body = self.request("POST", "/api/v1/predict?lang=en", BODY)
        return status, json.loads(body)

    def wait_exit(self, timeout: float = 600) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, code = self.state()
            if status in ("exited", "stopped"):
                return code
            time.sleep(1)
        raise AssertionError(f"{self.container} still running after {timeout}s:\n{self.logs()}")

    def wait_ready(self, path: str, timeout: float = 300) -> None:
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            status, _ = self.state()
            if status != "running":
                raise AssertionError(f"{self.container} {status}:\n{self.logs()}")
            try:
                last = self.request("GET", path, timeout=5)
                if last[0] == 200:
                    return
            except OSError as exc:
                last = exc
            time.sleep(1)
        raise AssertionError(f"{self.name} not ready in {timeout}s: {last}\n{self.logs()}")


@pytest.fixture(scope="module")
def work():
    folder = Path(tempfile.mkdtemp(prefix="prcrs-kube-"))
    database = folder / "db"
    database.mkdir()
    os.chown(database, UID, UID)  # written by the pods' non-root user
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def migrated(work):
    build_image(IMAGE)
    job = KubePod(work, manifest("migrate-job.yaml"), f"prcrs-migrate-{secrets.token_hex(3)}",
                  work / "db")
    started = time.monotonic()
    job.play()
    try:
        code = job.wait_exit()
        assert code == 0, job.logs()
        print(f"\nmigration job: exit 0 in {time.monotonic() - started:.1f} s")
    finally:
        job.down()
    assert (work / "db" / "db.sqlite3").stat().st_size > 0


@pytest.fixture(scope="module")
def web_pods(work, migrated):
    deployment = manifest("deployment.yaml")
    suffix = secrets.token_hex(3)
    pods = [KubePod(work, deployment, f"prcrs-web-{which}-{suffix}", work / "db")
            for which in "ab"]
    try:
        started = time.monotonic()
        for pod in pods:
            pod.play()
        paths = probe_paths(deployment)
        for pod in pods:
            pod.wait_ready(paths["startupProbe"])
        print(f"\ntwo pods ready in {time.monotonic() - started:.1f} s")
        yield pods
    finally:
        for pod in pods:
            pod.down()


def test_two_pods_of_the_deployment_answer_the_probes_and_a_prediction(web_pods):
    paths = probe_paths(manifest("deployment.yaml"))
    assert paths == {"startupProbe": "/readyz", "readinessProbe": "/readyz",
                     "livenessProbe": "/healthz"}
    for pod in web_pods:
        for path in set(paths.values()):
            status, body = pod.request("GET", path)
            assert status == 200, (pod.name, path, body[:300])
        status, answer = pod.predict()
        assert status == 200, answer
        assert answer["combination"] == "4" and 0.0 <= answer["probability"] <= 1.0
        # The pod template's security context, as podman applied it.
        assert podman("exec", pod.container, "id", "-u").stdout.strip() == str(UID)
        assert podman("exec", pod.container, "touch", "/app/x", check=False).returncode != 0


def test_one_pod_keeps_answering_while_the_other_is_removed(web_pods):
    removed, survivor = web_pods
    answers: list[int] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                answers.append(survivor.predict()[0])
            except OSError:
                answers.append(0)

    worker = threading.Thread(target=load)
    worker.start()
    try:
        time.sleep(1)
        started = time.monotonic()
        removed.down()
        gone = time.monotonic() - started
        time.sleep(1)
    finally:
        stop.set()
        worker.join(timeout=60)
    print(f"\n{len(answers)} predictions on the surviving pod while the other was removed "
          f"({gone:.1f} s): {answers.count(200)} answered 200")
    assert podman("pod", "exists", removed.name, check=False).returncode != 0
    with pytest.raises(OSError):
        removed.request("GET", "/healthz", timeout=5)
    assert len(answers) >= 10 and set(answers) == {200}, answers
    status, answer = survivor.predict()
    assert status == 200, answer
    readiness = probe_paths(manifest("deployment.yaml"))["readinessProbe"]
    assert survivor.request("GET", readiness)[0] == 200
