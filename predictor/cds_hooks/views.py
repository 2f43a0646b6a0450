"""CDS Hooks endpoints (thin): ``GET /cds-services`` (discovery, no token) and
``POST /cds-services/<id>`` (the patient-view hook; a signed JWT on every call)."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from predictor.access.rate_limits import charge
from predictor.cds_hooks.auth import authenticate
from predictor.cds_hooks.cards import card, problem_card
from predictor.cds_hooks.fhir_server import UPSTREAM_FAILED, fetch_patient_data
from predictor.cds_hooks.service import HOOK, SERVICE_ID, discovery
from predictor.fhir.bundle import parse_bundle
from predictor.fhir.http import base_url, endpoint, json_response, read_json_body
from predictor.fhir.observations import Located, locate_entries
from predictor.fhir.outcome import FhirRefusal, Issue, say
from predictor.fhir.scoring import predict_resources
from predictor.scoring.prediction_log import record

_SEARCH_TYPES = ("searchset", "collection")
log = logging.getLogger(__name__)


@endpoint("GET", "HEAD")
def discovery_view(request: HttpRequest) -> HttpResponse:
    return json_response(discovery())


def _prefetched(prefetch: dict, name: str) -> list[Located] | None:
    data = prefetch.get(name)
    if data is None:
        return None
    bundle = parse_bundle(data, types=_SEARCH_TYPES)
    return [Located(i.resource, f"prefetch.{name}.{i.path[len('Bundle.'):]}", i.reference)
            for i in locate_entries(bundle)]


def _from_server(body: dict, patient_id: str) -> list[Located]:
    observations, procedures = fetch_patient_data(body.get("fhirServer"),
                                                  body.get("fhirAuthorization"), patient_id)
    return [Located(r, f"fhirServer.{r.get_resource_type()}[{i}]",
                    f"{r.get_resource_type()}/{r.id}" if r.id else None)
            for i, r in enumerate(observations + procedures)]


def _resources(body: dict, patient_id: str) -> list[Located]:
    prefetch = body.get("prefetch") if isinstance(body.get("prefetch"), dict) else {}
    observations = _prefetched(prefetch, "observations")
    if observations is None:
        return _from_server(body, patient_id)
    return observations + (_prefetched(prefetch, "infusion") or [])


@endpoint("POST")
def hook_view(request: HttpRequest, service_id: str) -> HttpResponse:
    """The patient-view hook: cards with the patient's severe-CRS risk."""
    if service_id != SERVICE_ID:
        raise FhirRefusal.one(404, "not-found", say(_("There is no CDS service “%(id)s”."),
                                                    id=service_id))
    base = base_url(request)
    authenticate(request.headers.get("Authorization"), f"{base}/cds-services/{SERVICE_ID}")
    body = read_json_body(request, fhir=False)
    if not isinstance(body, dict) or body.get("hook") != HOOK:
        raise FhirRefusal.one(400, "invalid", say(_("This service answers the %(hook)s hook."),
                                                  hook=HOOK), "hook")
    context = body.get("context")
    patient_id = context.get("patientId") if isinstance(context, dict) else None
    if not isinstance(patient_id, str) or not patient_id.strip():
        raise FhirRefusal.one(400, "required", _("The hook's context needs patientId."),
                              "context.patientId")
    over_limit = charge(request, predictions=1)
    if over_limit is not None:
        raise FhirRefusal(429, [Issue("throttled", over_limit.message)],
                          headers=over_limit.headers)
    try:
        resources = _resources(body, patient_id.strip())
        prediction = predict_resources(resources)
    except FhirRefusal as refusal:
        if refusal.status == UPSTREAM_FAILED:  # the EHR's own server: say so in the card
            log.warning("CDS hook: %s", "; ".join(str(i.diagnostics) for i in refusal.issues))
            return json_response({"cards": [problem_card(
                "\n".join(str(i.diagnostics) for i in refusal.issues))]})
        if refusal.status != 422:
            raise
        if refusal.issues and refusal.issues[0].expression == ("Bundle.entry",):
            return json_response({"cards": []})  # no recognised result: nothing to say
        return json_response({"cards": [problem_card(
            "\n".join(str(i.diagnostics) for i in refusal.issues))]})
    record(prediction.results, channel="cds")
    return json_response({"cards": [card(prediction, base)]})
