"""A staff member's browser, reduced to what the container and scale-out tests need: log in to
the admin over real HTTP, upload a model version, activate it. Cookies and the CSRF token are
handled as a browser would; nothing is reached through Django's test client.
"""

from __future__ import annotations

import http.cookiejar
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # keep 302s visible to the caller
        return None


class AdminSession:
    """Logged-in admin over HTTP at ``base_url`` (admin under ``admin_path``)."""

    def __init__(self, base_url: str, *, admin_path: str = "/en/admin/", timeout: float = 60):
        self.base = base_url.rstrip("/")
        self.admin = "/" + admin_path.strip("/") + "/"
        self.timeout = timeout
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect())

    def request(self, method: str, path: str, *, data: bytes | None = None,
                headers: dict | None = None) -> tuple[int, dict, str]:
        """(status, headers, body text); 3xx and 4xx/5xx are answers, not exceptions."""
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers=headers or {})
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return response.status, dict(response.headers), response.read().decode(
                    "utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read().decode("utf-8", "replace")

    def csrf_token(self) -> str:
        for cookie in self.cookies:
            if cookie.name == "csrftoken":
                return cookie.value
        raise AssertionError("no csrftoken cookie was set")

    def login(self, username: str, password: str) -> None:
        status, _, _ = self.request("GET", self.admin + "login/")
        assert status == 200, f"admin login page: {status}"
        form = urllib.parse.urlencode({
            "username": username, "password": password, "next": self.admin,
            "csrfmiddlewaretoken": self.csrf_token()}).encode()
        status, headers, body = self.request(
            "POST", self.admin + "login/", data=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 302, f"login refused ({status}): {body[:500]}"

    def upload(self, *, horizon: int, combination: str, model: bytes,
               notes: str = "") -> int:
        """Upload through the admin's upload page; returns the new version's primary key."""
        fields = {"horizon": str(horizon), "combination": combination, "notes": notes,
                  "csrfmiddlewaretoken": self.csrf_token()}
        body, content_type = multipart(fields, {"model_file": ("model.pt", model)})
        status, headers, text = self.request(
            "POST", self.admin + "predictor/modelversion/add/", data=body,
            headers={"Content-Type": content_type})
        assert status == 302, f"upload refused ({status}): {text[:2000]}"
        match = re.search(r"/modelversion/(\d+)/change/", headers.get("Location", ""))
        assert match, f"no version page after the upload: {headers.get('Location')}"
        return int(match.group(1))

    def activate(self, version_pk: int) -> None:
        form = urllib.parse.urlencode({"confirm": "yes",
                                       "csrfmiddlewaretoken": self.csrf_token()}).encode()
        status, _, text = self.request(
            "POST", f"{self.admin}predictor/modelversion/{version_pk}/activate/", data=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 302, f"activation refused ({status}): {text[:2000]}"


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type."""
    boundary = "prcrs" + secrets.token_hex(12)
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     f"{value}\r\n".encode())
    for name, (filename, data) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                     f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                     .encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
