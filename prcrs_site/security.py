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
from django.http import HttpRequest, HttpResponse, JsonResponse
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


def body_limit_for(path: str) -> int:
    """The largest request body accepted on ``path``: small for the API, large elsewhere."""
    if path.startswith("/api/"):
        return settings.PRCRS_API_MAX_BODY_BYTES
    return settings.PRCRS_MAX_BODY_BYTES


class RequestBodyLimitMiddleware:
    """413 for a declared Content-Length over the path's limit, JSON on the API.

    Bodies without a Content-Length (chunked) are read by Django through a stream limited to
    the declared length, i.e. nothing, so they cannot get past this either.
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
            return self._too_large(request, limit)
        return self.get_response(request)

    @staticmethod
    def _too_large(request: HttpRequest, limit: int) -> HttpResponse:
        # This runs before LocaleMiddleware: pick the language the way the API does.
        with translation.override(_request_language(request)):
            message = _("The request body is too large (at most %(limit)d bytes are "
                        "accepted).") % {"limit": limit}
        if request.path_info.startswith("/api/"):
            response: HttpResponse = JsonResponse({"errors": {"__all__": [message]}}, status=413)
        else:
            response = HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return response


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


def _request_language(request: HttpRequest) -> str:
    wanted = request.GET.get("lang", "")
    if wanted in dict(settings.LANGUAGES):
        return wanted
    return translation.get_language_from_request(request, check_path=True)
