"""The site's error answers, and the 400/403/404/500 handlers built on them.

One rule decides the shape: the API and the health checks answer JSON
``{"errors": {"__all__": ["message"]}}``, everything else a small page. Every function here is
written so that it cannot raise: an error handler that fails turns a 4xx into a 500 (Django's
default 400 handler did exactly that when ``request.POST`` was the thing that could not be read).
So nothing here reads ``request.GET``, ``request.POST`` or the body, and the last resort is a
plain-text answer built from constants.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.core.exceptions import (DisallowedHost, RequestDataTooBig, TooManyFieldsSent,
                                    TooManyFilesSent)
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.template import loader
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

logger = logging.getLogger("prcrs.errors")

_JSON_PATHS = ("/healthz", "/readyz")
_LANG_PARAMETER = re.compile(r"(?:^|[&;])lang=([A-Za-z-]{2,10})(?:[&;]|$)")

TITLES = {
    400: gettext_lazy("Bad request"),
    403: gettext_lazy("Access denied"),
    404: gettext_lazy("Page not found"),
    405: gettext_lazy("Method not allowed"),
    413: gettext_lazy("Request too large"),
    500: gettext_lazy("Server error"),
}
MESSAGES = {
    400: gettext_lazy("The request could not be read. Check what was sent and try again."),
    403: gettext_lazy("You do not have permission to do this."),
    404: gettext_lazy("There is nothing at this address."),
    405: gettext_lazy("This address does not accept this kind of request."),
    413: gettext_lazy("The request body is too large."),
    500: gettext_lazy("Something went wrong on our side and no prediction was made. Please try "
                      "again in a moment; if it keeps happening, tell the site's administrator."),
}
# Constants for the last resort, when even translating or rendering failed.
_PLAIN = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
          413: "Request Entity Too Large", 500: "Internal Server Error"}


def wants_json(path: str) -> bool:
    """Whether errors on ``path`` are answered as JSON (API, health checks) or as a page."""
    return path.startswith("/api/") or path in _JSON_PATHS


def request_language(request: HttpRequest) -> str:
    """The language to answer in, read without touching ``request.GET``.

    On the API ``?lang=`` first (taken from the raw query string: the parsed one may be the very
    thing that failed); then the path prefix, the language cookie, Accept-Language.
    """
    try:
        path = request.path_info
        if wants_json(path):
            found = _LANG_PARAMETER.search(request.META.get("QUERY_STRING", "") or "")
            if found:
                try:
                    return translation.get_supported_language_variant(found.group(1))
                except LookupError:
                    pass
        return translation.get_language_from_request(request, check_path=not wants_json(path))
    except Exception:  # a header too odd to read: the default language still answers
        return settings.LANGUAGE_CODE


def error_response(request: HttpRequest, *, status: int, message: object = None,
                   language: str | None = None) -> HttpResponse:
    """The site's answer for ``status`` with ``message`` (or the status's usual text).

    ``language``: by default the request's (see ``request_language``); pass the active one when
    LocaleMiddleware already chose it.
    """
    try:
        with translation.override(language or request_language(request)):
            text = str(message if message is not None else MESSAGES.get(status, MESSAGES[400]))
            if wants_json(request.path_info):
                response: HttpResponse = JsonResponse(
                    {"errors": {"__all__": [text]}}, status=status,
                    json_dumps_params={"ensure_ascii": False})
                response["Cache-Control"] = "no-store"
            else:
                # Rendered without the request: no context processor can read the body or
                # the query string of a request that is broken.
                html = loader.render_to_string("error.html", {
                    "title": str(TITLES.get(status, TITLES[400])), "message": text,
                    "status": status, "LANGUAGE_CODE": translation.get_language()})
                response = HttpResponse(html, status=status)
            response["Content-Language"] = translation.get_language()
            return response
    except Exception:
        logger.exception("the %s answer could not be built; sending plain text", status)
        return HttpResponse(_PLAIN.get(status, "Error"), status=status,
                            content_type="text/plain; charset=utf-8")


def message_for(exception: BaseException | None) -> object:
    """What to tell the client about a request Django refused while reading it (lazy: the
    answer's language is chosen after this)."""
    if isinstance(exception, (TooManyFieldsSent, TooManyFilesSent)):
        return gettext_lazy("The request has too many fields or parameters.")
    if isinstance(exception, RequestDataTooBig):
        return MESSAGES[413]
    if isinstance(exception, DisallowedHost):
        return gettext_lazy("The Host header names an address this site does not answer to; "
                            "check the address you sent the request to.")
    if isinstance(exception, MultiPartParserError):
        return gettext_lazy("The form's multipart body could not be read: its Content-Type "
                            "header names no valid boundary, or the body does not follow it. "
                            "Send the form again.")
    return None


def _current_language(request: HttpRequest) -> str:
    # Handlers run after LocaleMiddleware when it was reached; for the API its ``?lang=`` wins.
    if wants_json(getattr(request, "path_info", "")):
        return request_language(request)
    return translation.get_language() or request_language(request)


def bad_request(request: HttpRequest, exception: BaseException | None = None) -> HttpResponse:
    """handler400: never reads the body again (it may be what could not be read)."""
    return error_response(request, status=400, message=message_for(exception),
                          language=_current_language(request))


def permission_denied(request: HttpRequest,
                      exception: BaseException | None = None) -> HttpResponse:
    """handler403."""
    return error_response(request, status=403, language=_current_language(request))


def page_not_found(request: HttpRequest, exception: BaseException | None = None) -> HttpResponse:
    """handler404: the site's 404 page (with its header and links), JSON on the API."""
    if not wants_json(getattr(request, "path_info", "")):
        try:
            html = loader.render_to_string("404.html", request=request)
            return HttpResponse(html, status=404)
        except Exception:
            logger.exception("the 404 page could not be rendered")
    return error_response(request, status=404, language=_current_language(request))


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: the standalone 500 page (it needs nothing from the request), JSON on the API."""
    try:
        if not wants_json(request.path_info):
            with translation.override(_current_language(request)):
                html = loader.render_to_string("500.html")
                response = HttpResponse(html, status=500)
                response["Content-Language"] = translation.get_language()
                return response
    except Exception:
        logger.exception("the 500 page could not be rendered")
    return error_response(request, status=500, language=_current_language(request))


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: the site's 403 page saying what to do, instead of Django's own."""
    language = _current_language(request)
    with translation.override(language):
        message = _("The form could not be verified: its security token is missing or has "
                    "expired, or cookies are blocked. Reload the page and send it again.")
    return error_response(request, status=403, message=message, language=language)
