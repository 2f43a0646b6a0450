"""API keys for integrators: issue (shown once, stored as SHA-256), revoke, and check a request.

A key is sent as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Keys are optional
unless ``PRCRS_API_KEYS_REQUIRED`` is on; a key that is sent must be valid either way (a wrong or
revoked key is refused, never silently ignored). A key is a 256-bit random token, so a plain
SHA-256 of it is enough to store (no salt or slow hash needed: it cannot be guessed from a list).

Checks are cached per process for ``PRCRS_API_KEY_CACHE_SECONDS`` (valid and invalid keys
alike), so a call with a key costs no database read most of the time; a revocation therefore
reaches every replica within that many seconds.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from predictor.models import ApiKey, AuditEvent

logger = logging.getLogger(__name__)

KEY_PREFIX = "prcrs_"
REALM = 'Bearer realm="PrCRS API"'


@dataclass(frozen=True)
class ActiveKey:
    """What a request needs to know about its (valid) key."""

    id: int
    limit: int | None


@dataclass(frozen=True)
class KeyProblem:
    """Why a request's key (or lack of one) is refused: a message, a status and headers."""

    message: str
    status: int
    headers: dict[str, str]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def issue_key(*, name: str, limit: int | None, user) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the key itself, which is never stored or shown again."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        api_key = ApiKey.objects.create(name=name, limit=limit, prefix=key[:len(KEY_PREFIX) + 4],
                                        key_hash=hash_key(key), created_by=user)
        AuditEvent.objects.create(user=user, action=AuditEvent.Action.API_KEY_ISSUED,
                                  detail=_audit_detail(api_key))
    return api_key, key


def revoke_key(*, api_key: ApiKey, user) -> bool:
    """Revoke ``api_key`` (False if it already was); every replica refuses it within the cache."""
    with transaction.atomic():
        updated = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=user)
        if updated:
            AuditEvent.objects.create(user=user, action=AuditEvent.Action.API_KEY_REVOKED,
                                      detail=_audit_detail(api_key))
    forget_cached_keys()
    return bool(updated)


def _audit_detail(api_key: ApiKey) -> dict:
    return {"api_key": api_key.pk, "name": api_key.name, "prefix": api_key.prefix,
            "limit": api_key.limit}


def presented_key(request: HttpRequest) -> str | None:
    """The key the request carries, or None. An empty or non-Bearer value is not a key."""
    authorization = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _space, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    value = request.META.get("HTTP_X_API_KEY", "").strip()
    return value or None


# --- the per-process cache of checked keys --------------------------------------------------

_cache: dict[str, tuple[float, ActiveKey | None]] = {}
_cache_lock = threading.Lock()
_CACHE_MAX = 10_000  # distinct keys remembered; beyond that the cache starts afresh


def forget_cached_keys() -> None:
    with _cache_lock:
        _cache.clear()


def _lookup(key: str) -> ActiveKey | None:
    """The active key, or None when unknown or revoked. DatabaseError when it cannot be known."""
    digest = hash_key(key)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    row = (ApiKey.objects.filter(key_hash=digest, revoked_at__isnull=True)
           .values_list("pk", "limit").first())
    found = ActiveKey(id=row[0], limit=row[1]) if row else None
    with _cache_lock:
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[digest] = (now + settings.PRCRS_API_KEY_CACHE_SECONDS, found)
    return found


def check_api_key(request: HttpRequest) -> KeyProblem | None:
    """None when the request may go on (its valid key, if any, is put on ``request.api_key``).

    A KeyProblem when it must be refused: 401 for a missing (where required), unknown or
    revoked key; 503 when the database cannot say whether the key is valid.
    """
    request.api_key = None
    key = presented_key(request)
    if key is None:
        if settings.PRCRS_API_KEYS_REQUIRED:
            return KeyProblem(str(_("This API needs a key: send it in the header "
                                    "\"Authorization: Bearer <key>\" or \"X-API-Key: <key>\". "
                                    "The site's administrators issue keys.")),
                              401, {"WWW-Authenticate": REALM})
        return None
    try:
        active = _lookup(key)
    except DatabaseError:
        logger.warning("API key check failed: the database is unavailable", exc_info=True)
        return KeyProblem(str(_("The API key cannot be checked right now. Please try again in "
                                "a minute.")), 503, {"Retry-After": "60"})
    if active is None:
        return KeyProblem(str(_("The API key is not valid: it is unknown or has been revoked.")),
                          401, {"WWW-Authenticate": REALM + ', error="invalid_token"'})
    request.api_key = active
    return None
