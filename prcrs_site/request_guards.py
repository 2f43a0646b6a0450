"""Requests Django cannot read, refused with a 400 in the site's usual shape instead of a 500.

Two layers, because some requests break before any middleware runs:

- ``guard_wsgi(app)`` wraps the WSGI application. Django builds the request object outside its
  exception handling, and a ``Content-Type`` such as ``text/plain; charset*=xyz''a`` makes that
  raise (a 500 on every URL); so does a declared charset when the query string then fails to
  parse (Django re-parses it while setting the encoding). The wrapper sets such a header aside
  and marks the request; it
  also reads a chunked body (no Content-Length, which Django would take for an empty body) into
  a spooled file, at most the path's body limit + 1 bytes, so the body limit still applies.
- ``RequestGuardMiddleware`` (first after the response-header middlewares) answers the marked
  requests, a query string that cannot be parsed (too many parameters, a charset that is no
  text encoding), and a form posted in a charset Django refuses, before anything else reads
  them. It also gives a bare 405 the site's body.
"""

from __future__ import annotations

import codecs
import functools
import logging
import re
import tempfile
from collections.abc import Callable, Iterable

from django.core.exceptions import TooManyFieldsSent
from django.core.handlers.wsgi import get_bytes_from_wsgi
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils import translation
from django.utils.http import parse_header_parameters
from django.utils.translation import gettext as _

from prcrs_site.error_responses import error_response, request_language
from prcrs_site.security import body_limit_for

logger = logging.getLogger("prcrs.requests")

PROBLEM_KEY = "prcrs.request_problem"
UNREADABLE_CONTENT_TYPE = "content_type"
UNUSABLE_CHARSET = "charset"
UNREADABLE_BODY = "body"
TOO_MANY_FIELDS = "fields"
UNREADABLE_QUERY = "query"

# Printable ASCII: what a query string or a form body is made of (non-ASCII is percent-encoded).
_ASCII_PROBE = bytes(range(32, 127))
_SPOOL_IN_MEMORY_BYTES = 1024 * 1024
_READ_BLOCK = 64 * 1024


@functools.lru_cache(maxsize=256)
def charset_is_usable(charset: str) -> bool:
    """Whether Django can read query strings and forms declared in ``charset``.

    An unknown name is fine (Django ignores it and reads UTF-8). A known codec must be a text
    encoding that reads ASCII as ASCII: ``base64``, ``rot13`` or ``zlib`` are no text encodings
    at all, and ``utf-16``, ``utf-32`` or ``utf-7`` garble the plain ASCII of a URL. (``idna``
    reads ASCII but refuses some query strings: ``content_type_problem`` tries the real one.)
    """
    try:
        codec = codecs.lookup(charset)
    except LookupError:
        return True
    except Exception:  # e.g. a NUL in the name: Django's own lookup would not survive it
        return False
    if not getattr(codec, "_is_text_encoding", True):
        return False
    try:
        return _ASCII_PROBE.decode(codec.name) == _ASCII_PROBE.decode("ascii")
    except Exception:
        return False


def content_type_problem(content_type: str, query_string: bytes = b"") -> str | None:
    """Why Django could not build a request with this ``Content-Type`` header (and query
    string), or None when it can."""
    if not content_type:
        return None
    try:
        _main, params = parse_header_parameters(content_type)
    except Exception:  # "charset*=xyz''a": an RFC 2231 parameter in an unknown encoding
        return UNREADABLE_CONTENT_TYPE
    charset = params.get("charset")
    if not charset:
        return None
    if not charset_is_usable(charset):
        return UNUSABLE_CHARSET
    if query_string and _is_known_codec(charset):
        # Setting a request's encoding re-parses its query string, inside the constructor:
        # whatever that parse raises (too many parameters, a byte the charset refuses) would
        # be a 500. Parse it here first, the same way.
        try:
            QueryDict(query_string, encoding=charset)
        except TooManyFieldsSent:
            return TOO_MANY_FIELDS
        except Exception:
            return UNREADABLE_QUERY
    return None


def _is_known_codec(charset: str) -> bool:
    try:
        codecs.lookup(charset)
    except LookupError:
        return False
    return True


def _is_chunked(environ: dict) -> bool:
    return ("chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
            and not environ.get("CONTENT_LENGTH"))


def _buffer_chunked_body(environ: dict) -> None:
    """Read a chunked body (the server has de-chunked it) into a spooled file and give it a
    Content-Length: at most the path's limit + 1 bytes, so RequestBodyLimitMiddleware refuses
    a longer one with its usual 413."""
    limit = body_limit_for(environ.get("PATH_INFO", "") or "")
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY_BYTES)
    stream = environ.get("wsgi.input")
    total = 0
    try:
        while stream is not None and total <= limit:
            block = stream.read(min(_READ_BLOCK, limit + 1 - total))
            if not block:
                break
            spool.write(block)
            total += len(block)
    except Exception:  # a malformed chunk or a client gone: nothing usable was sent
        logger.info("a chunked request body could not be read", exc_info=True)
        spool.close()
        environ[PROBLEM_KEY] = UNREADABLE_BODY
        spool = tempfile.SpooledTemporaryFile(max_size=1)
        total = 0
    spool.seek(0)
    environ["wsgi.input"] = spool
    environ["CONTENT_LENGTH"] = str(total)


def guard_wsgi(app: Callable) -> Callable:
    """``app`` with the two request-building hazards defused (see the module docstring)."""

    def guarded(environ: dict, start_response: Callable) -> Iterable[bytes]:
        problem = content_type_problem(environ.get("CONTENT_TYPE", "") or "",
                                       get_bytes_from_wsgi(environ, "QUERY_STRING", ""))
        if problem is not None:
            environ[PROBLEM_KEY] = problem
            environ["prcrs.original_content_type"] = environ.get("CONTENT_TYPE", "")
            environ["CONTENT_TYPE"] = "application/octet-stream"
        if _is_chunked(environ):
            _buffer_chunked_body(environ)
        return app(environ, start_response)

    return guarded


def _problem_message(problem: str) -> str:
    if problem == UNREADABLE_CONTENT_TYPE:
        return _("The Content-Type header could not be read.")
    if problem == UNUSABLE_CHARSET:
        return _("The Content-Type header names a character set the site cannot read; send "
                 "UTF-8.")
    if problem == UNREADABLE_BODY:
        return _("The request body could not be read.")
    if problem == TOO_MANY_FIELDS:
        return _("The request has too many fields or parameters.")
    if problem == UNREADABLE_QUERY:
        return _("The query string could not be read.")
    return _("The request could not be read. Check what was sent and try again.")


_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}")
_HEADER_PROBLEMS = (UNREADABLE_CONTENT_TYPE, UNUSABLE_CHARSET)


def media_type(content_type: str) -> str | None:
    """The media type of a Content-Type header (``text/plain`` of ``text/plain; charset=x``),
    lower-cased, read without its parameters; None when it is no valid ``type/subtype``."""
    main = content_type.split(";", 1)[0].strip().lower()
    return main if _MEDIA_TYPE.fullmatch(main) else None


def left_to_the_api(request: HttpRequest, problem: str | None) -> bool:
    """Whether a body the API will refuse anyway is left to it: the API answers a body of any
    media type other than JSON (or a sheet upload) with 415, whatever its charset says, so a
    charset it would never read is no reason for a 400 there. Only posted bodies: a GET's
    unreadable header is still the request's problem."""
    if not request.path.startswith("/api/") or request.method not in ("POST", "PUT", "PATCH"):
        return False
    original = request.META.get("prcrs.original_content_type", request.META.get("CONTENT_TYPE"))
    kind = media_type(original or "")
    if kind is None or kind == "application/json":
        return False
    return problem is None or problem in _HEADER_PROBLEMS


def _form_charset_problem(request: HttpRequest) -> bool:
    """A form body declared in a charset other than UTF-8: Django refuses to parse it."""
    if request.content_type != "application/x-www-form-urlencoded":
        return False
    charset = request.content_params.get("charset")
    if not charset:
        return False
    try:
        return codecs.lookup(charset).name != "utf-8"
    except LookupError:
        return False


class RequestGuardMiddleware:
    """400 for requests whose headers, query string or form encoding Django cannot read."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # This runs before LocaleMiddleware: answer in the language the request asks for.
        language = request_language(request)
        with translation.override(language):
            message = self._problem(request)
        if message is not None:
            return error_response(request, status=400, message=message, language=language)
        response = self.get_response(request)
        if response.status_code == 405 and not getattr(response, "streaming", False) \
                and not response.content:
            allow = response.get("Allow")
            response = error_response(request, status=405)
            if allow:
                response["Allow"] = allow
        return response

    @staticmethod
    def _problem(request: HttpRequest) -> str | None:
        """What is wrong with the request, in the active language, or None."""
        problem = request.META.get(PROBLEM_KEY)
        if problem is not None and not left_to_the_api(request, problem):
            return _problem_message(problem)
        try:
            request.GET  # parsed once here; every later reader gets the cached result
        except TooManyFieldsSent:
            return _("The request has too many fields or parameters.")
        except Exception:  # undecodable in the declared charset, malformed beyond repair
            logger.info("query string refused", exc_info=True)
            return _("The query string could not be read.")
        if _form_charset_problem(request) and not left_to_the_api(request, None):
            return _("The form was sent in the character set %(charset)s; the site reads "
                     "forms only in UTF-8.") % {
                "charset": request.content_params.get("charset", "")[:40]}
        return None
