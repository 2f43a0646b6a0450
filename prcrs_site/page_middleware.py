"""Middleware that only pages need, passed over on the JSON API's paths.

An API call carries no session, no cookie, no CSRF token and no login; it picks its language
itself (``?lang=`` or Accept-Language, in ``predictor.api``) and its error answers read the
language on their own (``prcrs_site.error_responses``). Running sessions, messages, auth, the
locale switch and static files on it cost ~0.07 ms of CPU per call for nothing (measured
in-process; bench/serving.py (g) prints the served figures). Each class here is
the middleware it names, unchanged for pages; on ``/api/`` it hands the request straight on.
The checks an API call does need stay in settings.MIDDLEWARE as they are: the security
headers, the request guards, the allowed hosts (CommonMiddleware) and the body limit. So does
CsrfViewMiddleware (Django's deployment check wants it by name; on the API's csrf_exempt views it
only reads a cookie).

Subclasses, not wrappers: Django's system checks look for these classes in MIDDLEWARE and
accept subclasses. django-axes' middleware stays as it is: its check wants its own name, and on a
request that is not a login it only reads one attribute.
"""

from __future__ import annotations

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.middleware.locale import LocaleMiddleware
from django.utils.cache import patch_vary_headers
from whitenoise.middleware import WhiteNoiseMiddleware

from prcrs_site.error_responses import wants_json


class PagesOnly:
    """Mixin: run the middleware after it in the MRO only for paths that are not JSON."""

    get_response: object

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if wants_json(request.path_info):
            return self.get_response(request)
        return super().__call__(request)


class PageStaticFiles(PagesOnly, WhiteNoiseMiddleware):
    pass


class PageSessions(PagesOnly, SessionMiddleware):
    pass


class PageLocale(PagesOnly, LocaleMiddleware):
    """On the API only the header LocaleMiddleware added there: the answer's language follows
    Accept-Language, so caches must key on it."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = super().__call__(request)
        if wants_json(request.path_info):
            patch_vary_headers(response, ("Accept-Language",))
        return response


class PageAuthentication(PagesOnly, AuthenticationMiddleware):
    pass


class PageMessages(PagesOnly, MessageMiddleware):
    pass
