"""The client's address: the TCP peer, or what a trusted proxy says in ``X-Forwarded-For``.

One setting, ``PRCRS_TRUSTED_PROXIES`` (comma-separated addresses or networks, e.g.
``10.0.0.5,172.16.0.0/12``; empty, the default, trusts no one; ``*`` trusts every peer and is
safe only where nothing but the proxy can reach the site), is read here and by gunicorn's
``forwarded_allow_ips``. The lockout (django-axes), the rate limits and the access log all ask
this module, so they agree on who the client is.

The rule: when the peer is not a trusted proxy, its address is the client's and any
``X-Forwarded-For`` is ignored (anyone can send that header). When it is, the header is read
from the right (each proxy appends the address it saw) and the first hop that is not itself a
trusted proxy is the client: hops to its left were written by the client and prove nothing.

No Django import at module level: gunicorn's master process uses it for the access log.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[Network, ...] = ()
    everyone: bool = False

    def trusts(self, address: Address) -> bool:
        if self.everyone:
            return True
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # "::ffff:10.0.0.5" is 10.0.0.5
        return any(address in network for network in self.networks)


@lru_cache(maxsize=8)
def parse_trusted_proxies(spec: str) -> TrustedProxies:
    """``"10.0.0.5, 172.16.0.0/12"`` -> TrustedProxies; ValueError names a bad entry."""
    networks: list[Network] = []
    everyone = False
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        if item == "*":
            everyone = True
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"PRCRS_TRUSTED_PROXIES: {item!r} is not an address or network")
    return TrustedProxies(tuple(networks), everyone)


def _address(text: str) -> Address | None:
    """An address from a header hop: ``1.2.3.4``, ``1.2.3.4:567``, ``[::1]:80`` or ``::1``."""
    text = text.strip().strip('"')
    if text.startswith("["):  # [v6]:port
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def resolve_client_address(*, peer: str, forwarded_for: str | None,
                           trusted: TrustedProxies) -> str:
    """The client's address from the TCP peer and the ``X-Forwarded-For`` value (see module)."""
    current = _address(peer)
    if current is None or not trusted.trusts(current) or not forwarded_for:
        return str(current) if current is not None else peer
    for hop in reversed(forwarded_for.split(",")):
        address = _address(hop)
        if address is None:
            # Garbage a trusted proxy passed on from further left: the last hop we could
            # vouch for is the best answer, never the garbage itself.
            break
        current = address
        if not trusted.trusts(address):
            break
    return str(current)


def client_address(request) -> str:
    """The client address of a Django request, computed once per request.

    Also django-axes' ``AXES_CLIENT_IP_CALLABLE``, so the lockout counts per real client.
    """
    cached = getattr(request, "_prcrs_client_address", None)
    if cached is None:
        from django.conf import settings

        cached = resolve_client_address(
            peer=request.META.get("REMOTE_ADDR", ""),
            forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR"),
            trusted=parse_trusted_proxies(settings.PRCRS_TRUSTED_PROXIES))
        request._prcrs_client_address = cached
    return cached
