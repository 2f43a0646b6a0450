"""The client address: X-Forwarded-For believed only from a trusted proxy, right-most untrusted
hop. The rule as a function, then against the real server, where the access log, the rate
limits and the lockout all use it (the lockout in tests/test_lockout.py).

On the server only 127.0.0.2 is a trusted proxy: requests sent from 127.0.0.1 (or any other
loopback address) are ordinary clients whose X-Forwarded-For is a claim to ignore.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from bench.serving import ROOT, LoopbackSite, pattern_values, write_tiny_models
from predictor.access.client_address import parse_trusted_proxies, resolve_client_address
from tests.http_session import HttpSession

PROXY = "127.0.0.2"


def _resolve(peer: str, forwarded_for: str | None, trusted: str) -> str:
    return resolve_client_address(peer=peer, forwarded_for=forwarded_for,
                                  trusted=parse_trusted_proxies(trusted))


@pytest.mark.parametrize(("peer", "forwarded_for", "trusted", "client"), [
    # No proxy trusted (the default): the header is never read.
    ("198.51.100.7", "203.0.113.1", "", "198.51.100.7"),
    # An untrusted peer's header is ignored even when proxies are trusted.
    ("198.51.100.7", "10.0.0.5", "10.0.0.5", "198.51.100.7"),
    # From the trusted proxy: the address it appended.
    ("10.0.0.5", "203.0.113.1", "10.0.0.5", "203.0.113.1"),
    # A client's own forged hops sit left of the proxy's: the right-most untrusted one wins.
    ("10.0.0.5", "127.0.0.1, 192.0.2.99, 203.0.113.1", "10.0.0.5", "203.0.113.1"),
    # Two trusted proxies in a row (a CIDR): skip both.
    ("10.0.0.5", "203.0.113.1, 10.0.3.4", "10.0.0.0/16", "203.0.113.1"),
    # Every hop trusted: the left-most is the best we know.
    ("10.0.0.5", "10.0.9.9, 10.0.3.4", "10.0.0.0/16", "10.0.9.9"),
    # Garbage where the proxy's hop should be: stop at the last hop we could vouch for.
    ("10.0.0.5", "203.0.113.1, not-an-address", "10.0.0.5", "10.0.0.5"),
    ("10.0.0.5", "", "10.0.0.5", "10.0.0.5"),
    # Ports and IPv6 forms some proxies write.
    ("10.0.0.5", "203.0.113.1:5555", "10.0.0.5", "203.0.113.1"),
    ("::1", "[2001:db8::7]:443", "::1", "2001:db8::7"),
    ("::ffff:10.0.0.5", "2001:db8::8", "10.0.0.5", "2001:db8::8"),
    # "*": every peer is a proxy (only where nothing else can reach the site).
    ("198.51.100.7", "203.0.113.1", "*", "203.0.113.1"),
])
def test_the_client_is_the_right_most_hop_not_written_by_a_trusted_proxy(
        peer, forwarded_for, trusted, client):
    assert _resolve(peer, forwarded_for, trusted) == client


def test_a_bad_trusted_proxy_entry_is_refused_at_start_with_its_name():
    with pytest.raises(ValueError, match="'10.0.0.300'"):
        parse_trusted_proxies("10.0.0.1, 10.0.0.300")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PRCRS_"))}
    started = subprocess.run(
        [sys.executable, "-c", "import prcrs_site.settings"], cwd=ROOT, capture_output=True,
        text=True, timeout=60, env=env | {"PRCRS_TRUSTED_PROXIES": "10.0.0.5,nginx"})
    assert started.returncode != 0
    assert "ImproperlyConfigured" in started.stderr and "'nginx'" in started.stderr


# --- against the real server ---------------------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    work = tmp_path_factory.mktemp("client-address")
    write_tiny_models(work / "bundle")
    server = LoopbackSite(work, work / "bundle", workers=1, threads=2, env={
        "PRCRS_TRUSTED_PROXIES": PROXY, "PRCRS_RATE_LIMITS": "1",
        "PRCRS_RATE_LIMIT_PREDICTIONS": "2"})
    with server:
        yield server


def _predict(site: LoopbackSite, *, source: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return HttpSession(site.port, source=source).post_json(
        "/api/v1/predict", {"values": pattern_values("4"), "horizon": 1}, headers=headers).status


def _logged_client(site: LoopbackSite, marker: str) -> str:
    deadline = time.monotonic() + 5  # the worker writes the line just after the answer
    while True:
        entries = [e for e in site.log_entries()
                   if e.get("logger") == "gunicorn.access" and e.get("query") == marker]
        if entries or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(entries) == 1, entries
    return entries[0]["remote"]


@pytest.mark.slow
@pytest.mark.parametrize(("source", "forwarded_for", "client"), [
    ("127.0.0.1", "203.0.113.7", "127.0.0.1"),  # spoofed, from an untrusted address
    (PROXY, "203.0.113.7", "203.0.113.7"),  # from the trusted proxy
    (PROXY, "198.51.100.4, 203.0.113.8", "203.0.113.8"),  # the right-most hop
])
def test_the_access_log_names_the_client_by_the_same_rule(site, source, forwarded_for, client):
    marker = f"mark={source}-{len(forwarded_for)}"
    reply = HttpSession(site.port, source=source).get(
        f"/api/v1/catalogue?{marker}", headers={"X-Forwarded-For": forwarded_for})
    assert reply.status == 200
    assert _logged_client(site, marker) == client


@pytest.mark.slow
def test_a_spoofed_forwarded_for_buys_no_fresh_rate_limit_budget(site):
    statuses = [_predict(site, source="127.0.0.30", forwarded_for=f"203.0.113.{i}")
                for i in range(4)]
    assert statuses == [200, 200, 429, 429]


@pytest.mark.slow
def test_behind_the_trusted_proxy_each_forwarded_client_has_its_own_budget(site):
    assert [_predict(site, source=PROXY, forwarded_for="198.51.100.20") for _ in range(3)] == [
        200, 200, 429]
    # Another client behind the same proxy is not held back by the first.
    assert _predict(site, source=PROXY, forwarded_for="198.51.100.21") == 200
    # And the proxy itself, or a client forging the first one's address, is another client.
    assert _predict(site, source="127.0.0.31", forwarded_for="198.51.100.20") == 200
