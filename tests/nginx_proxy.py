"""nginx in front of loopback upstreams, configured from deploy/nginx.conf, for tests.

    from tests.nginx_proxy import nginx_proxy, nginx_available

    with nginx_proxy([("127.0.0.1", 8001), ("127.0.0.1", 8002)]) as base_url:
        urllib.request.urlopen(base_url + "/healthz")

The configuration is the deployment's own file, rewritten only where a test run must differ:
the upstream servers (Compose's ``app1:8000``/``app2:8000`` become the given loopback
addresses), the listening address (a free port on 127.0.0.1 instead of port 80), and the pid
file, logs and temporary folders (a scratch folder instead of system paths). Everything else,
balancing, timeouts, retries, body limits, is what production runs. Each rewrite must match
exactly once, so an edit to deploy/nginx.conf that breaks the harness fails loudly instead of
silently testing something else.

Which upstream answered each request is in the JSON access log (``upstream`` field):
pass ``log_dir`` to keep it, and read it with :func:`access_log_entries`.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY_CONF = ROOT / "deploy" / "nginx.conf"


def nginx_binary() -> str | None:
    """The nginx executable, or None when Debian's package is not installed."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None)


def nginx_available() -> bool:
    return nginx_binary() is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _replace_once(text: str, pattern: str, replacement, *, flags: int = re.M) -> str:
    new, count = re.subn(pattern, replacement, text, flags=flags)
    if count != 1:
        raise ValueError(f"deploy/nginx.conf: expected exactly one match for {pattern!r}, "
                         f"found {count}; update tests/nginx_proxy.py with the config")
    return new


def render_config(*, upstreams: Sequence[tuple[str, int]], port: int, work: Path,
                  retry: bool = True, extra_http: str = "", source: Path = DEPLOY_CONF) -> str:
    """deploy/nginx.conf rewritten for a loopback run (see the module docstring).

    ``retry=False`` turns every ``proxy_next_upstream`` into ``off``: the same proxy without
    failover, to show what the retries save. ``extra_http``: directives added inside ``http``.
    """
    if not upstreams:
        raise ValueError("at least one upstream is needed")
    text = source.read_text()
    # The upstream's server lines, with their parameters (max_fails, ...) kept.
    block = re.search(r"^\s*upstream prcrs \{.*?^\s*\}", text, flags=re.M | re.S)
    if block is None:
        raise ValueError("deploy/nginx.conf: no `upstream prcrs { ... }` block")
    server_lines = re.findall(r"^(\s*)server \S+:\d+(.*);$", block.group(0), flags=re.M)
    if not server_lines:
        raise ValueError("deploy/nginx.conf: no server line in the upstream block")
    indent, params = server_lines[0]
    servers = "\n".join(f"{indent}server {host}:{p}{params};" for host, p in upstreams)
    new_block = re.sub(r"(^\s*server \S+:\d+.*;\n)+", servers + "\n", block.group(0),
                       count=1, flags=re.M)
    text = text.replace(block.group(0), new_block)

    text = _replace_once(text, r"^(\s*)listen 80 default_server;",
                         rf"\1listen 127.0.0.1:{port} default_server;")
    text = _replace_once(text, r"^(\s*)access_log /dev/stdout json;",
                         rf"\1access_log {work}/access.log json;")
    text = _replace_once(text, r"^(\s*)error_log /dev/stderr (\w+);",
                         rf"\1error_log {work}/error.log \2;")
    # worker_processes: one is plenty on loopback and keeps the shared cores free.
    text = _replace_once(text, r"^worker_processes \S+;", "worker_processes 1;")
    scratch = "\n".join(f"    {name}_temp_path {work}/{name};"
                        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    text = _replace_once(text, r"^http \{\n",
                         f"http {{\n{scratch}\n{extra_http}\n")
    if not retry:
        text, count = re.subn(r"^(\s*)proxy_next_upstream\s[^;]*;", r"\1proxy_next_upstream off;",
                              text, flags=re.M)
        if count == 0:
            raise ValueError("deploy/nginx.conf: no proxy_next_upstream to turn off")
    return f"pid {work}/nginx.pid;\n{text}"


def _answers(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/healthz")
        conn.getresponse().read()
        return True  # any status: nginx answers (a 502 just means no upstream yet)
    except OSError:
        return False
    finally:
        conn.close()


@contextmanager
def nginx_proxy(upstreams: Sequence[tuple[str, int]], *, retry: bool = True,
                log_dir: Path | None = None, extra_http: str = "",
                timeout: float = 15) -> Iterator[str]:
    """Run nginx on a free 127.0.0.1 port in front of ``upstreams``; yields its base URL.

    ``log_dir``: where access.log (JSON lines), error.log and the rendered nginx.conf go
    (a temporary folder, deleted afterwards, when not given). nginx is stopped on exit.
    """
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (Debian package nginx)")
    own_dir = log_dir is None
    work = Path(tempfile.mkdtemp(prefix="prcrs-nginx-")) if own_dir else Path(log_dir)
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)  # nginx's workers drop root privileges and write temp files here
    port = free_port()
    conf = work / "nginx.conf"
    conf.write_text(render_config(upstreams=upstreams, port=port, work=work, retry=retry,
                                  extra_http=extra_http))
    stderr = open(work / "stderr.log", "ab")
    process = subprocess.Popen([binary, "-p", str(work), "-c", str(conf), "-g", "daemon off;"],
                               stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + timeout
        while not _answers(port):
            if process.poll() is not None:
                raise RuntimeError(f"nginx exited ({process.returncode}):\n"
                                   f"{(work / 'stderr.log').read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"nginx did not answer on port {port} in {timeout}s")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()  # SIGTERM: fast shutdown
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        stderr.close()
        if own_dir:
            shutil.rmtree(work, ignore_errors=True)


def access_log_entries(log_dir: Path) -> list[dict]:
    """The JSON access-log lines nginx wrote so far (``upstream``, ``status``, ``uri``, ...)."""
    path = Path(log_dir) / "access.log"
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries
