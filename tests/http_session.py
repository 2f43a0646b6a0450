"""A small HTTP client for tests against the real server: cookies, CSRF forms, a chosen source
address (any 127.x.y.z on Linux loopback), so one machine can play several clients and a proxy.
"""

from __future__ import annotations

import http.client
import json
import re
from dataclasses import dataclass
from urllib.parse import urlencode


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> dict:
        return json.loads(self.body)


class HttpSession:
    """Requests from ``source`` to ``port`` on 127.0.0.1, one fresh connection each."""

    def __init__(self, port: int, *, source: str = "127.0.0.1", host: str = "127.0.0.1"):
        self.port = port
        self.source = source
        self.host = host
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, *, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30,
                                          source_address=(self.source, 0))
        try:
            all_headers = dict(headers or {})
            if self.cookies:
                all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            reply = Reply(response.status, response.headers, response.read())
        finally:
            conn.close()
        for cookie in reply.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return reply

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return self.request("GET", path, headers=headers)

    def post_json(self, path: str, data: object, headers: dict[str, str] | None = None) -> Reply:
        return self.request("POST", path, body=json.dumps(data).encode(),
                            headers={"Content-Type": "application/json", **(headers or {})})

    def post_form(self, path: str, data: dict[str, str], *, csrf_from: str | None = None,
                  headers: dict[str, str] | None = None) -> Reply:
        """POST ``data`` as a form, with the CSRF token of the page at ``csrf_from`` (or path)."""
        page = self.get(csrf_from or path)
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert match, f"no CSRF token on {csrf_from or path}: {page.status}"
        body = urlencode({**data, "csrfmiddlewaretoken": match.group(1)}).encode()
        return self.request("POST", path, body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", **(headers or {})})

    def admin_login(self, username: str, password: str, *, admin: str = "/en/admin/",
                    headers: dict[str, str] | None = None) -> Reply:
        """Log in on the admin's login page; 302 means logged in, 429 locked out."""
        return self.post_form(f"{admin}login/", {"username": username, "password": password,
                                                 "next": admin}, headers=headers)
