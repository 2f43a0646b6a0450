"""Small HTTP helpers shared by bench/fuzz.py and the tests that post forms and sheets to a
real server: a multipart body, the CSRF cookie of a page, a worker's peak memory."""

from __future__ import annotations

import http.client
import re
import uuid
from pathlib import Path


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]] | None = None,
              *, boundary: str | None = None) -> tuple[bytes, str]:
    """(body, Content-Type) of a multipart/form-data post: ``fields`` as text, ``files`` as
    {field: (file name, bytes)}."""
    boundary = boundary or uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     .encode() + value.encode("utf-8", "surrogatepass") + b"\r\n")
    for name, (filename, data) in (files or {}).items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                     f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                     .encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), \
        f"multipart/form-data; boundary={boundary}"


def csrf_token(conn: http.client.HTTPConnection, path: str) -> str:
    """The csrftoken cookie a GET of ``path`` sets (the form posts it back as well)."""
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    for header in response.headers.get_all("Set-Cookie") or []:
        match = re.match(r"csrftoken=([^;]+)", header)
        if match:
            return match.group(1)
    raise RuntimeError(f"no CSRF cookie from {path}")


def peak_rss_mib(pid: int) -> float:
    """The most memory process ``pid`` has held so far (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
