"""The EHR's signed JWT on every hook call (CDS Hooks specification, "Trusting CDS Clients").

Checked with PyJWT against keys the deployment trusts: ``PRCRS_CDS_ISSUERS`` (accepted ``iss``),
``PRCRS_CDS_JWKS_FILE`` (a JWKS JSON file of their public keys) and optionally
``PRCRS_CDS_JWKS_URLS`` (``issuer=url`` pairs, for EHRs that publish their keys). Required
claims: iss, aud (the service's URL as the EHR sees it: ``PRCRS_PUBLIC_URL`` + the service path),
exp, jti. A jti is accepted once: it is written to the database (shared by every worker and
replica) until the token expires, so a replayed token is refused everywhere.

Refusals: 401 for a missing, unsigned, expired, replayed or wrongly signed token or a wrong aud;
403 for a well-formed token of an issuer the site does not trust.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass

import jwt
from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from predictor.fhir.outcome import FhirRefusal, Issue
from predictor.models import CdsTokenUse

ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384")
_LEEWAY_SECONDS = 30
_PRUNE_EVERY_SECONDS = 60.0
_lock = threading.Lock()
_jwks_cache: dict[str, tuple[float, jwt.PyJWKSet]] = {}
_clients: dict[str, jwt.PyJWKClient] = {}
_pruned_at = [0.0]


@dataclass(frozen=True)
class Caller:
    issuer: str
    subject: str | None


def _unauthorised(message, status: int = 401) -> FhirRefusal:
    return FhirRefusal(status, [Issue("security", message)],
                       headers={"WWW-Authenticate": 'Bearer realm="cds-services"'}
                       if status == 401 else {})


def _file_keys() -> jwt.PyJWKSet | None:
    path = settings.PRCRS_CDS_JWKS_FILE
    if not path:
        return None
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return None
    with _lock:
        held = _jwks_cache.get(path)
        if held is not None and held[0] == mtime:
            return held[1]
    try:
        with open(path, encoding="utf-8") as handle:
            keys = jwt.PyJWKSet.from_dict(json.load(handle))
    except (OSError, ValueError, jwt.PyJWKSetError, jwt.InvalidKeyError):
        return None
    with _lock:
        _jwks_cache[path] = (mtime, keys)
    return keys


def _url_for(issuer: str) -> str | None:
    for pair in settings.PRCRS_CDS_JWKS_URLS.split(","):
        name, _sep, url = pair.strip().partition("=")
        if name.strip() == issuer and url.strip():
            return url.strip()
    return None


def _signing_key(issuer: str, kid: str | None):
    """The public key for ``kid`` from the JWKS file, else from the issuer's JWKS URL."""
    keys = _file_keys()
    if keys is not None:
        if kid is not None:
            for key in keys.keys:
                if key.key_id == kid:
                    return key.key
        elif len(keys.keys) == 1:
            return keys.keys[0].key
    url = _url_for(issuer)
    if url is None or kid is None:
        return None
    with _lock:
        client = _clients.setdefault(url, jwt.PyJWKClient(url, cache_keys=True, timeout=5))
    try:
        return client.get_signing_key(kid).key
    except jwt.PyJWKClientError:
        return None


def authenticate(authorization: str | None, audience: str) -> Caller:
    """The caller of a hook, or FhirRefusal 401/403 (see the module docstring)."""
    scheme, _sep, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorised(_("A signed JWT is required: Authorization: Bearer <token>."))
    token = token.strip()
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _unauthorised(_("The token is not a JWT.")) from None
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise _unauthorised(_("The token must be signed with an asymmetric key (RS384 or "
                              "ES384); unsigned or shared-secret tokens are refused."))
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise _unauthorised(_("The token has no issuer (iss)."))
    if issuer not in settings.PRCRS_CDS_ISSUERS:
        raise _unauthorised(_("The token's issuer is not trusted by this site."), status=403)
    key = _signing_key(issuer, header.get("kid"))
    if key is None:
        raise _unauthorised(_("No trusted key matches the token (kid)."))
    try:
        verified = jwt.decode(token, key, algorithms=[algorithm], audience=audience,
                              issuer=issuer, leeway=_LEEWAY_SECONDS,
                              options={"require": ["iss", "aud", "exp", "jti"]})
    except jwt.ExpiredSignatureError:
        raise _unauthorised(_("The token has expired.")) from None
    except jwt.InvalidAudienceError:
        raise _unauthorised(_("The token's audience (aud) is not this service's URL.")) \
            from None
    except jwt.MissingRequiredClaimError as exc:
        raise _unauthorised(_("The token lacks a required claim: %(claim)s.") % {
            "claim": exc.claim}) from None
    except jwt.PyJWTError:
        raise _unauthorised(_("The token's signature does not verify.")) from None
    _use_once(issuer, str(verified["jti"]), int(verified["exp"]))
    return Caller(issuer, verified.get("sub"))


def _use_once(issuer: str, jti: str, expires: int) -> None:
    """Record the jti until it expires; a second use is a replay (401)."""
    now = time.time()
    try:
        if now - _pruned_at[0] > _PRUNE_EVERY_SECONDS:
            _pruned_at[0] = now
            CdsTokenUse.objects.filter(expires_at__lt=int(now) - _LEEWAY_SECONDS).delete()
        with transaction.atomic():
            CdsTokenUse.objects.create(token=f"{issuer}|{jti}"[:255],
                                       expires_at=expires + _LEEWAY_SECONDS)
    except IntegrityError:
        raise _unauthorised(_("This token was already used (jti); sign a new one for each "
                              "request.")) from None
    except DatabaseError:
        # Without the table a replay cannot be told from a first use: refuse rather than trust.
        raise FhirRefusal(503, [Issue("transient", _("The service cannot check tokens right "
                                                     "now; please try again."))],
                          headers={"Retry-After": "30"}) from None
