"""FHIR R4 endpoints (thin): ``GET /fhir/r4/metadata`` and
``POST /fhir/r4/RiskAssessment/$predict`` (docs/integration.md)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from predictor.access.api_keys import check_api_key
from predictor.access.rate_limits import charge
from predictor.fhir.bundle import parse_bundle
from predictor.fhir.capability import capability_statement, operation_definition
from predictor.fhir.http import base_url, endpoint, read_json_body, resource_response
from predictor.fhir.observations import locate_entries
from predictor.fhir.outcome import FhirRefusal, Issue
from predictor.fhir.risk_assessment import risk_assessment
from predictor.fhir.scoring import predict_resources
from predictor.scoring.prediction_log import record


@endpoint("GET", "HEAD")
def metadata(request: HttpRequest) -> HttpResponse:
    """The CapabilityStatement."""
    return resource_response(capability_statement(base_url(request)))


@endpoint("GET", "HEAD")
def predict_definition(request: HttpRequest) -> HttpResponse:
    """The OperationDefinition the CapabilityStatement names."""
    return resource_response(operation_definition(base_url(request)))


@endpoint("POST")
def predict_operation(request: HttpRequest) -> HttpResponse:
    """A Bundle of Observations in, a RiskAssessment out."""
    refused = check_api_key(request)  # sets request.api_key for the rate limits
    if refused is not None:
        raise FhirRefusal(refused.status, [Issue("security", refused.message)],
                          headers=refused.headers)
    bundle = parse_bundle(read_json_body(request, fhir=True))
    over_limit = charge(request, predictions=1)  # one patient-day, all three horizons
    if over_limit is not None:
        raise FhirRefusal(429, [Issue("throttled", over_limit.message)],
                          headers=over_limit.headers)
    prediction = predict_resources(locate_entries(bundle))
    record(prediction.results, channel="fhir")
    return resource_response(risk_assessment(prediction))

