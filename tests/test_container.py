"""The container image built and run for real with podman, checked from outside.

The image is built from the unmodified Dockerfile by scripts/container_build.sh (the local
stand-in for python:3.11-slim from scripts/local_base_image.sh where no registry is reachable;
a cached rebuild takes seconds), then run as a deployment would run it: the image's entry point
(migrations on its SQLite file in the /app/var volume) and gunicorn, with only the deployment's
variables given. ``--network host`` with gunicorn bound to a free 127.0.0.1 port: loopback only,
and no container network to set up. The checks: /healthz, /readyz, a prediction from the
bundled models, static files with long cache headers, the admin login page, a non-root
process, the image's own HEALTHCHECK command, and a model version uploaded through the admin
that survives the container being replaced by a new one on the same volume.
"""

from __future__ import annotations

import http.client
import json
import re
import resource
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from bench.serving import free_port, pattern_values
from tests.admin_http import AdminSession
from tests.model_files import tiny_model_bytes
from tests.podman_tools import IMAGE, build_image, podman
from tests.required_tools import podman_problem, requires_tool

ADMIN_USER, ADMIN_PASSWORD = "container-admin", "Container-only-4b8e1d"


pytestmark = [pytest.mark.slow, pytest.mark.container, requires_tool(podman_problem())]


def host_ulimits() -> list[str]:
    """podman's default limits (about a million open files and processes) exceed what this
    sandbox lets a process set, and runc then refuses to start the container: open files as
    the host has them, and a process count that is plenty for gunicorn and PyTorch threads."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    flags = ["--ulimit", "nproc=4096:4096"]
    if hard != resource.RLIM_INFINITY:
        soft = hard if soft == resource.RLIM_INFINITY else soft
        flags += ["--ulimit", f"nofile={soft}:{hard}"]
    return flags


class Container:
    """One container of the image on a free loopback port, with a given volume."""

    def __init__(self, volume: str):
        self.volume = volume
        self.port = free_port()
        self.name = f"prcrs-test-{secrets.token_hex(4)}"

    def run(self) -> None:
        podman("run", "-d", "--name", self.name, "--network", "host", "--memory", "2g",
               *host_ulimits(),
               # No systemd here to time the checks: the test runs the HEALTHCHECK itself.
               "--health-interval", "disable",
               "-e", f"GUNICORN_BIND=127.0.0.1:{self.port}",
               "-e", "GUNICORN_WORKERS=1",
               "-e", "DJANGO_SECRET_KEY=container-test-" + "s" * 40,
               "-e", "DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost",
               "-v", f"{self.volume}:/app/var", IMAGE)

    def remove(self) -> None:
        podman("rm", "-f", "-t", "10", self.name, check=False, timeout=60)

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return (result.stdout + result.stderr)[-4000:]

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.headers), response.read()
        finally:
            conn.close()

    def wait_ready(self, timeout: float = 240) -> dict:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            state = podman("inspect", "--format", "{{.State.Status}}", self.name).stdout.strip()
            if state != "running":
                raise AssertionError(f"container {state}:\n{self.logs()}")
            try:
                status, _, body = self.request("GET", "/readyz")
                last = (status, body[:300])
                if status == 200:
                    return json.loads(body)
            except OSError as exc:
                last = exc
            time.sleep(1)
        raise AssertionError(f"not ready in {timeout}s: {last}\n{self.logs()}")

    def predict(self, horizon: int = 1, code: str = "4") -> tuple[int, dict]:
        status, _, body = self.request(
            "POST", "/api/v1/predict?lang=en",
            json.dumps({"values": pattern_values(code), "horizon": horizon}).encode(),
            {"Content-Type": "application/json"})
        return status, json.loads(body)


@pytest.fixture(scope="module")
def image() -> str:
    """The image built from the working tree (a cached build when nothing changed)."""
    return build_image(IMAGE)


@pytest.fixture(scope="module")
def volume(image):
    name = f"prcrs-test-var-{secrets.token_hex(4)}"
    podman("volume", "create", name)
    yield name
    podman("volume", "rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def container(volume):
    box = Container(volume)
    box.run()
    try:
        started = time.monotonic()
        box.ready = box.wait_ready()
        print(f"\ncontainer ready in {time.monotonic() - started:.1f} s")
        yield box
    finally:
        box.remove()


def test_the_container_answers_healthz_and_is_ready_with_the_bundled_models(container):
    status, _, body = container.request("GET", "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    assert container.ready["status"] == "ready"
    # Every bundled file (labs only, labs + context, the no-lab references) is active and loaded.
    bundled = len(list(Path(__file__).resolve().parents[1].glob("models_store/h*_c*.pt")))
    assert bundled == 39
    assert container.ready["active"] == bundled and len(container.ready["loaded"]) == bundled


def test_the_container_answers_a_prediction(container):
    status, answer = container.predict(1, "4")
    assert status == 200, answer
    assert answer["combination"] == "4" and answer["model_version"].startswith("h1-4-")
    assert 0.0 <= answer["probability"] <= 1.0


def test_static_files_are_served_with_long_cache_headers(container):
    manifest = json.loads(podman("exec", container.name, "cat",
                                 "/app/staticfiles/staticfiles.json").stdout)["paths"]
    hashed = next(v for k, v in sorted(manifest.items()) if k.endswith(".css"))
    status, headers, body = container.request("GET", f"/static/{hashed}",
                                              headers={"Accept-Encoding": "gzip"})
    assert status == 200 and body
    max_age = int(re.search(r"max-age=(\d+)", headers["Cache-Control"]).group(1))
    assert max_age >= 365 * 24 * 3600, headers["Cache-Control"]
    assert "immutable" in headers["Cache-Control"]
    print(f"\n/static/{hashed}: Cache-Control: {headers['Cache-Control']}")


def test_the_admin_login_page_answers(container):
    status, _, body = container.request("GET", "/en/admin/login/")
    assert status == 200
    assert b'name="username"' in body and b'name="password"' in body


def test_the_server_runs_as_the_non_root_user(container):
    assert podman("exec", container.name, "id", "-u").stdout.strip() == "10001"
    # The process itself, seen from the host (rootful podman, no user namespace).
    pid = podman("inspect", "--format", "{{.State.Pid}}", container.name).stdout.strip()
    status = Path(f"/proc/{pid}/status").read_text()
    uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)", status, flags=re.M).groups()
    assert uids == ("10001", "10001"), status
    assert "gunicorn" in Path(f"/proc/{pid}/cmdline").read_text()


def test_the_images_healthcheck_command_succeeds(container):
    health = json.loads(podman("image", "inspect", "--format", "{{json .HealthCheck}}",
                               IMAGE).stdout)
    assert health["Test"] == ["CMD", "python", "scripts/healthcheck.py"]
    result = podman("healthcheck", "run", container.name, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_uploaded_model_version_survives_a_new_container_on_the_same_volume(container,
                                                                               volume):
    subprocess.run(["podman", "exec", "-e", f"DJANGO_SUPERUSER_USERNAME={ADMIN_USER}",
                    "-e", f"DJANGO_SUPERUSER_PASSWORD={ADMIN_PASSWORD}",
                    "-e", "DJANGO_SUPERUSER_EMAIL=admin@example.org", container.name,
                    "python", "manage.py", "createsuperuser", "--noinput", "-v0"],
                   check=True, capture_output=True, timeout=120)
    status, before = container.predict(1, "4")
    assert status == 200
    admin = AdminSession(f"http://127.0.0.1:{container.port}")
    admin.login(ADMIN_USER, ADMIN_PASSWORD)
    pk = admin.upload(horizon=1, combination="4", notes="container restart test",
                      model=tiny_model_bytes(1, "4", bias=2.5))
    admin.activate(pk)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, uploaded = container.predict(1, "4")
        if uploaded["model_version"] != before["model_version"]:
            break
        time.sleep(0.2)
    assert uploaded["model_version"] != before["model_version"], uploaded

    container.remove()  # gone, with its writable layer; the volume stays
    successor = Container(volume)
    successor.run()
    try:
        successor.wait_ready()
        status, after = successor.predict(1, "4")
        assert status == 200, after
        assert after["model_version"] == uploaded["model_version"]
        assert after["probability"] == uploaded["probability"]
        again = AdminSession(f"http://127.0.0.1:{successor.port}")
        again.login(ADMIN_USER, ADMIN_PASSWORD)  # the admin user is on the volume too
        status, _, page = again.request("GET",
                                        f"/en/admin/predictor/modelversion/{pk}/change/")
        assert status == 200 and "container restart test" in page
    finally:
        successor.remove()
