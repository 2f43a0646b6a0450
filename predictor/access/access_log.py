"""gunicorn's access log with the real client address (``%(h)s``, the JSON line's ``remote``).

gunicorn writes the TCP peer, which behind nginx is nginx. The address is resolved by the same
rule as the lockout and the rate limits (``predictor.access.client_address``), from the same
setting.
"""

from __future__ import annotations

import os

from gunicorn.glogging import Logger

from predictor.access.client_address import parse_trusted_proxies, resolve_client_address


class ClientAddressLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["h"] = resolve_client_address(
            peer=environ.get("REMOTE_ADDR", "-"),
            forwarded_for=environ.get("HTTP_X_FORWARDED_FOR"),
            trusted=parse_trusted_proxies(os.environ.get("PRCRS_TRUSTED_PROXIES", "")))
        return atoms
