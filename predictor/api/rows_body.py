"""The posted rows of the batch and validation APIs: the JSON body read from the stream within
its limit, the rows array checked for shape and count, and the shared refusals."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _

from predictor.api.answers import ALL, error_answer
from predictor.inputs import strict_json
from predictor.inputs.strict_json import RepeatedKey


def horizon_errors() -> dict:
    return {"horizon": [_("\"horizon\" must be 1 (tomorrow), 2 (the day after tomorrow), "
                          "3 (in three days) or \"all\".")]}


def _read_batch_body(request: HttpRequest):
    """The posted JSON object, read from the stream: ``request.body`` would refuse anything over
    DATA_UPLOAD_MAX_MEMORY_SIZE, far below a 10,000-row batch (RequestBodyLimitMiddleware has
    already refused bodies over PRCRS_BATCH_MAX_BODY_BYTES)."""
    if (request.content_type or "").lower() != "application/json":
        return None, error_answer({ALL: [_("Send the request body as JSON with the header "
                                           "Content-Type: application/json.")]}, status=415)
    limit = settings.PRCRS_BATCH_MAX_BODY_BYTES
    data = request.read(limit + 1)
    if len(data) > limit:
        return None, error_answer({ALL: [_("The request body is too large.")]}, status=413)
    try:
        body = strict_json.loads(data)
    except RepeatedKey as repeated:
        return None, error_answer({ALL: [str(repeated.message)]})
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None, error_answer({ALL: [_("The request body is not valid JSON.")]})
    if not isinstance(body, dict):
        return None, error_answer({ALL: [_("The request body must be a JSON object with the keys "
                                           "\"rows\" and \"horizon\".")]})
    return body, None


def read_rows_body(request: HttpRequest, shape_message: str):
    """(body, its "rows" list, None), or (None, None, the 4xx answer): the posted JSON object
    with a non-empty "rows" array of at most PRCRS_BATCH_MAX_ROWS; ``shape_message`` says
    what a row holds."""
    body, problem = _read_batch_body(request)
    if problem is not None:
        return None, None, problem
    raw_rows = body.get("rows")
    if not isinstance(raw_rows, list) or not raw_rows:
        return None, None, error_answer({"rows": [shape_message]})
    if len(raw_rows) > settings.PRCRS_BATCH_MAX_ROWS:
        return None, None, too_many_rows(len(raw_rows))
    return body, raw_rows, None


def too_many_rows(count: int) -> JsonResponse:
    return error_answer({"rows": [_("At most %(max)d rows per request; this one has %(count)d. "
                                    "Split it into several requests.") % {
        "max": settings.PRCRS_BATCH_MAX_ROWS, "count": count}]}, status=413)
