"""Response security headers and the request body limit, as two small middlewares.

Django 5.2 already sends X-Content-Type-Options, Referrer-Policy (SecurityMiddleware) and
X-Frame-Options (XFrameOptionsMiddleware) from settings; what it lacks is a
Content-Security-Policy, added here. The body limit answers oversize requests with 413 before
any view (or Django's own ``DATA_UPLOAD_MAX_MEMORY_SIZE`` check, which would answer 400) reads
the body.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils import translation
from django.utils.translation import gettext as _


class ContentSecurityPolicyMiddleware:
    """Adds ``PRCRS_CONTENT_SECURITY_POLICY`` to every response that does not set its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.policy = settings.PRCRS_CONTENT_SECURITY_POLICY
        self.header = ("Content-Security-Policy-Report-Only"
                       if settings.PRCRS_CSP_REPORT_ONLY else "Content-Security-Policy")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.policy and self.header not in response:
            response[self.header] = self.policy
        return response


# Endpoints that take many rows or a sheet in one request.
BATCH_API_PREFIXES = ("/api/v1/predict/batch", "/api/v1/validate")


def body_limit_for(path: str) -> int:
    """The largest request body accepted on ``path``: small for the API (larger for its batch
    endpoints), large elsewhere."""
    if path.startswith(BATCH_API_PREFIXES):
        return settings.PRCRS_BATCH_MAX_BODY_BYTES
    if path.startswith("/api/"):
        return settings.PRCRS_API_MAX_BODY_BYTES
    return settings.PRCRS_MAX_BODY_BYTES


class RequestBodyLimitMiddleware:
    """413 for a Content-Length over the path's limit, in the site's usual shape (JSON on the
    API, a page elsewhere).

    A chunked body has been given a Content-Length by ``prcrs_site.request_guards.guard_wsgi``
    (at most the limit + 1 bytes were read), so it is limited here like any other. A view may
    answer an oversize body itself: an admin view whose ModelAdmin has
    ``oversize_body_response(request, url_name=, limit=, length=)`` returning a response
    (the model upload page does, and records the refusal).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = body_limit_for(request.path_info)
        if length > limit:
            # Read and drop a moderately oversize body so the client's kept-alive connection
            # stays in step. Beyond that the server closes the connection after this answer
            # (WSGI leaves "Connection" to the server; nginx in front refuses such bodies).
            _discard_body(request, length)
            return _view_answer(request, limit, length) or self._too_large(request, limit)
        return self.get_response(request)

    @staticmethod
    def _too_large(request: HttpRequest, limit: int) -> HttpResponse:
        from prcrs_site.error_responses import error_response, request_language

        # On the API pick the language the way the API does (?lang= first).
        language = request_language(request)
        with translation.override(language):
            message = _("The request body is too large (at most %(limit)d bytes are "
                        "accepted).") % {"limit": limit}
        return error_response(request, status=413, message=message, language=language)


def _view_answer(request: HttpRequest, limit: int, length: int) -> HttpResponse | None:
    """The oversize answer of the view at this address, when it has one (see the class)."""
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return None
    answer = getattr(getattr(match.func, "model_admin", None), "oversize_body_response", None)
    if answer is None:
        return None
    return answer(request, url_name=match.url_name, limit=limit, length=length)


# Up to this much of an oversize body is read and dropped (gunicorn itself drains only 64 KiB
# of an unread body before it drops a kept-alive connection).
_DISCARD_MAX_BYTES = 1024 * 1024


def _discard_body(request: HttpRequest, length: int) -> bool:
    if length > _DISCARD_MAX_BYTES:
        return False
    stream = request.META.get("wsgi.input")
    if stream is None:
        return False
    remaining = length
    try:
        while remaining > 0:
            chunk = stream.read(min(remaining, 65536))
            if not chunk:
                break
            remaining -= len(chunk)
    except OSError:  # the client gave up: nothing to keep alive
        return False
    return remaining <= 0
