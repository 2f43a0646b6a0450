"""The admin lockout cannot be turned against an admin: an attacker's wrong passwords lock the
attacker's address, while the named admin logs in from another one. Against the real server,
directly and behind nginx (deploy/nginx.conf), which the site trusts as its proxy.

Each client is its own loopback address (127.0.0.x); nginx reaches gunicorn from 127.0.0.1,
the only trusted proxy here, so a direct client on another address is never believed.
"""

from __future__ import annotations

import sqlite3
import subprocess

import pytest

from bench.serving import PYTHON, ROOT, LoopbackSite, write_tiny_models
from tests.http_session import HttpSession
from tests.nginx_proxy import nginx_proxy
from tests.required_tools import nginx_problem, tool_missing

pytestmark = pytest.mark.slow

FAILURES = 3
ADMIN = "chief"
PASSWORD = "the-real-admins-password-5513"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    work = tmp_path_factory.mktemp("lockout")
    write_tiny_models(work / "bundle")
    server = LoopbackSite(work, work / "bundle", workers=2, threads=2, env={
        "AXES_FAILURE_LIMIT": str(FAILURES), "PRCRS_TRUSTED_PROXIES": "127.0.0.1",
        "GUNICORN_ACCESS_LOG": ""})
    with server:
        subprocess.run([str(PYTHON), "manage.py", "createsuperuser", "--noinput",
                        "--username", ADMIN, "--email", "chief@example.org"], cwd=ROOT,
                       env=server.env | {"DJANGO_SUPERUSER_PASSWORD": PASSWORD},
                       check=True, capture_output=True, timeout=120)
        yield server


@pytest.fixture(scope="module")
def proxy_port(site):
    problem = nginx_problem()
    if problem is not None:
        tool_missing(problem)
    with nginx_proxy([("127.0.0.1", site.port)]) as base_url:
        yield int(base_url.rsplit(":", 1)[1])


def _attack(client: HttpSession, headers: dict[str, str] | None = None) -> list[int]:
    return [client.admin_login(ADMIN, f"guess-{i}", headers=headers).status
            for i in range(FAILURES)]


def _locked_addresses(site: LoopbackSite) -> set[str]:
    with sqlite3.connect(site.db_dir / "db.sqlite3") as db:
        return {ip for (ip,) in db.execute(
            "SELECT ip_address FROM axes_accessattempt WHERE failures_since_start >= ?",
            (FAILURES,))}


def test_an_attacker_locks_only_their_own_address_and_the_admin_logs_in_from_another(site):
    attacker = HttpSession(site.port, source="127.0.0.60")
    assert _attack(attacker) == [200] * (FAILURES - 1) + [429]
    # Locked: even the right password is refused from the attacker's address, in the page's
    # language.
    locked = attacker.admin_login(ADMIN, PASSWORD)
    assert locked.status == 429 and "Too many wrong passwords from your address" in locked.text
    locked = attacker.admin_login(ADMIN, PASSWORD, admin="/zh-hans/admin/")
    assert locked.status == 429 and "您的地址密码错误次数过多" in locked.text
    assert HttpSession(site.port, source="127.0.0.61").admin_login(ADMIN, PASSWORD).status == 302
    assert "127.0.0.60" in _locked_addresses(site)


def test_a_spoofed_forwarded_for_from_an_untrusted_address_is_ignored(site):
    # The attacker claims to be the admin's address; the site is not fooled and locks the
    # attacker's real one.
    attacker = HttpSession(site.port, source="127.0.0.62")
    assert _attack(attacker, {"X-Forwarded-For": "127.0.0.63"})[-1] == 429
    assert attacker.admin_login(ADMIN, PASSWORD).status == 429
    assert HttpSession(site.port, source="127.0.0.63").admin_login(ADMIN, PASSWORD).status == 302
    assert "127.0.0.62" in _locked_addresses(site)
    assert "127.0.0.63" not in _locked_addresses(site)


def test_behind_nginx_the_attacker_is_locked_and_the_admin_logs_in_from_another_address(
        site, proxy_port):
    attacker = HttpSession(proxy_port, source="127.0.0.64")
    assert _attack(attacker) == [200] * (FAILURES - 1) + [429]
    assert attacker.admin_login(ADMIN, PASSWORD).status == 429
    admin = HttpSession(proxy_port, source="127.0.0.65")
    assert admin.admin_login(ADMIN, PASSWORD).status == 302
    assert admin.get("/en/admin/").status == 200  # logged in, through nginx
    locked = _locked_addresses(site)
    assert "127.0.0.64" in locked and "127.0.0.1" not in locked  # never nginx's own address


def test_behind_nginx_a_forged_forwarded_for_does_not_lock_the_address_it_names(
        site, proxy_port):
    attacker = HttpSession(proxy_port, source="127.0.0.66")
    assert _attack(attacker, {"X-Forwarded-For": "127.0.0.67"})[-1] == 429
    # nginx appended the attacker's real address; the right-most untrusted hop is that one.
    assert HttpSession(proxy_port, source="127.0.0.67").admin_login(ADMIN, PASSWORD).status == 302
    assert "127.0.0.66" in _locked_addresses(site)
    assert "127.0.0.67" not in _locked_addresses(site)
