"""The JSON API's answers, shared by every endpoint under /api/v1/: the view wrapper (method,
API key, language), JSON bodies and error bodies in the request's language."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from django.http import HttpRequest, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from predictor.access.api_keys import check_api_key

ALL = "__all__"


def request_language(request: HttpRequest) -> str:
    """``?lang=`` when it names a site language, else the request's (Accept-Language, default)."""
    wanted = request.GET.get("lang", "").strip()
    if wanted:
        try:  # "zh", "zh-CN", "en-US" name site languages too
            return translation.get_supported_language_variant(wanted)
        except LookupError:
            pass
    return translation.get_language_from_request(request)


def json_answer(data: dict, status: int = 200, **headers: str) -> JsonResponse:
    response = JsonResponse(data, status=status, json_dumps_params={"ensure_ascii": False})
    response["Content-Language"] = translation.get_language()
    response["Cache-Control"] = "no-store"  # answers hold lab values; never keep them in caches
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def error_answer(errors: Mapping[str, list], status: int = 400, **headers: str) -> JsonResponse:
    # str() inside the active language: lazy messages are rendered here, in the request's language.
    return json_answer({"errors": {key: [str(m) for m in messages]
                                   for key, messages in errors.items()}},
                       status=status, **headers)


def api_view(*methods: str) -> Callable:
    """JSON-only, CSRF-exempt view taking only ``methods``, run in the request's language."""

    def decorate(view: Callable) -> Callable:
        @csrf_exempt
        def wrapped(request: HttpRequest, *args, **kwargs) -> JsonResponse:
            with translation.override(request_language(request)):
                if request.method not in methods:
                    return error_answer({ALL: [_("This address accepts only %(methods)s requests.")
                                          % {"methods": ", ".join(methods)}]},
                                   status=405, Allow=", ".join(methods))
                refused = check_api_key(request)  # sets request.api_key for the rate limits
                if refused is not None:
                    return error_answer({ALL: [refused.message]}, status=refused.status,
                                   **refused.headers)
                return view(request, *args, **kwargs)

        wrapped.__name__ = view.__name__
        wrapped.__doc__ = view.__doc__
        return wrapped

    return decorate
