"""HTTP helpers of the FHIR and CDS Hooks endpoints: FHIR JSON answers, the body limit, the
language, and every refusal as an OperationOutcome (never a bare 500 page)."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt

from predictor.fhir.outcome import FhirRefusal, Issue, operation_outcome, say
from predictor.inputs import strict_json
from predictor.inputs.strict_json import RepeatedKey
from prcrs_site.error_responses import request_language

FHIR_JSON = "application/fhir+json"
_ACCEPTED_TYPES = {"application/fhir+json", "application/json"}


def resource_response(resource, status: int = 200, headers: dict | None = None) -> HttpResponse:
    """A fhir.resources model as FHIR JSON."""
    response = HttpResponse(resource.model_dump_json(exclude_none=True), status=status,
                            content_type=f"{FHIR_JSON}; charset=utf-8")
    response["Cache-Control"] = "no-store"  # answers hold lab values; never keep them in caches
    response["Content-Language"] = translation.get_language()
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def json_response(data: dict, status: int = 200, headers: dict | None = None) -> HttpResponse:
    response = HttpResponse(json.dumps(data, ensure_ascii=False), status=status,
                            content_type="application/json; charset=utf-8")
    response["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def refusal_response(refusal: FhirRefusal) -> HttpResponse:
    return resource_response(operation_outcome(refusal.issues), status=refusal.status,
                             headers=refusal.headers)


def read_json_body(request: HttpRequest, *, fhir: bool) -> object:
    """The posted JSON, or FhirRefusal: 415 for another media type, 413 over
    PRCRS_FHIR_MAX_BODY_BYTES, 400 when it is not JSON."""
    content_type = (request.content_type or "").lower()
    if content_type not in _ACCEPTED_TYPES:
        wanted = "application/fhir+json" if fhir else "application/json"
        raise FhirRefusal.one(415, "not-supported", say(
            _("Send the body as JSON (Content-Type: %(type)s)."), type=wanted))
    limit = settings.PRCRS_FHIR_MAX_BODY_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    too_large = FhirRefusal.one(413, "too-long", say(
        _("The request body is too large (at most %(limit)s bytes are accepted)."), limit=limit))
    if length > limit:
        raise too_large
    try:
        body = request.body
    except RequestDataTooBig:
        raise too_large from None
    if len(body) > limit:
        raise too_large
    try:
        return strict_json.loads(body)
    except RepeatedKey as repeated:
        raise FhirRefusal.one(400, "structure", repeated.message) from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise FhirRefusal.one(400, "structure", _("The request body is not valid JSON.")) \
            from None


def endpoint(*methods: str) -> Callable:
    """CSRF-exempt view taking only ``methods``, run in the request's language, with every
    FhirRefusal answered as an OperationOutcome."""

    def decorate(view: Callable) -> Callable:
        @csrf_exempt
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            with translation.override(request_language(request)):
                if request.method not in methods:
                    return refusal_response(FhirRefusal(405, [Issue("not-supported", say(
                        _("This address accepts only %(methods)s requests."),
                        methods=", ".join(methods)))], headers={"Allow": ", ".join(methods)}))
                try:
                    return view(request, *args, **kwargs)
                except FhirRefusal as refusal:
                    return refusal_response(refusal)

        wrapped.__name__ = view.__name__
        wrapped.__doc__ = view.__doc__
        return wrapped

    return decorate


def base_url(request: HttpRequest) -> str:
    """The service's address as clients see it: PRCRS_PUBLIC_URL, else from the request."""
    return settings.PRCRS_PUBLIC_URL or f"{request.scheme}://{request.get_host()}"
