"""Health checks for load balancers and orchestrators (no language prefix, no session).

- ``/healthz``: the process answers. Touches nothing else, so a database outage never gets
  healthy workers restarted (liveness).
- ``/readyz``: the database answers and every slot with an active version in the database is
  loaded in this process (readiness). 503 with the reasons otherwise, so a load balancer sends
  traffic only to replicas that can serve every combination they are expected to.

Probes address a replica by its own IP, which is not in ALLOWED_HOSTS: ``HealthCheckMiddleware``
answers these two paths before anything validates the Host header (and before sessions,
CSRF or language prefixes could get involved). The URL routes exist for ``reverse()`` and for
the test client.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from predictor.scoring.registry import REGISTRY


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _active_slots() -> set[tuple[int, str, str]]:
    """(horizon, combination, context) of every active version: labs-only, labs with context
    and the no-lab reference slots alike."""
    from predictor.models import ModelVersion

    with connection.cursor() as cursor:  # the cheapest proof the database answers
        cursor.execute("SELECT 1")
    return set(ModelVersion.objects.filter(state=ModelVersion.State.ACTIVE)
               .values_list("horizon", "combination", "context"))


def _slot(slot: tuple) -> str:
    """``h1-1234`` (labs only), ``h1-1234-ctx`` (labs and context), ``h1-0-ctx`` (reference)."""
    context = slot[2] if len(slot) > 2 else ""
    return f"h{slot[0]}-{slot[1]}" + ("-ctx" if context else "")


def readiness() -> tuple[bool, dict]:
    """(ready, details): what ``/readyz`` reports, as a plain function."""
    reasons: list[str] = []
    details: dict[str, object] = {}
    try:
        active = _active_slots()
    except Exception as exc:  # any driver error means: not reachable from here
        active = None
        reasons.append(_("The database is not reachable: %(error)s") % {
            "error": f"{type(exc).__name__}: {exc}".strip()[:300]})
    try:
        snapshot = REGISTRY.snapshot()
    except Exception as exc:  # nothing loaded yet and the database is away
        snapshot = None
        reasons.append(_("The models could not be loaded: %(error)s") % {
            "error": f"{type(exc).__name__}: {exc}".strip()[:300]})
    if snapshot is not None:
        details["stamp"] = snapshot.stamp
        details["loaded"] = sorted(_slot(s) for s in snapshot.models)
        for slot, error in sorted(snapshot.failures.items()):
            reasons.append(_("The active model for %(slot)s failed to load: %(error)s") % {
                "slot": _slot(slot), "error": error[:300]})
        if active is not None:
            missing = sorted(_slot(s) for s in active - set(snapshot.models))
            if missing:
                reasons.append(_("Active models not loaded yet: %(slots)s") % {
                    "slots": ", ".join(missing)})
    if active is not None:
        details["active"] = len(active)
    return not reasons, details | {"reasons": reasons}


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    ready, details = readiness()
    return JsonResponse({"status": "ready" if ready else "unavailable"} | details,
                        status=200 if ready else 503, json_dumps_params={"ensure_ascii": False})


_CHECKS: dict[str, Callable[[HttpRequest], JsonResponse]] = {"/healthz": healthz, "/readyz": readyz}


class HealthCheckMiddleware:
    """Answers /healthz and /readyz whatever the Host header; everything else passes through."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        check = _CHECKS.get(request.path_info)
        if check is None:
            return self.get_response(request)
        with translation.override(translation.get_language_from_request(request)):
            return check(request)
