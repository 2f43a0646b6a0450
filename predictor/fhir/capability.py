"""The CapabilityStatement at ``GET /fhir/r4/metadata``: what this server does (one operation,
``$predict`` on RiskAssessment) and what it takes."""

from __future__ import annotations

import datetime as dt

from django.conf import settings

from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationdefinition import OperationDefinition

OPERATION_NAME = "predict"
DEFINITION_ID = "RiskAssessment-predict"
FHIR_VERSION = "4.0.1"
_PUBLISHED = dt.date(2026, 12, 1)

OPERATION_DOC = (
    "POST a Bundle (type collection) of one patient's Observations, LOINC-coded with UCUM units "
    "as GET /api/v1/catalogue lists them (\"codes\"), optionally today's CRS grade and the day "
    "since infusion (urn:prcrs:codes) or the infusion as a Procedure with performedDateTime. "
    "Values are the most recent per factor within the 24 hours up to the newest result. "
    "Answer: one RiskAssessment with a prediction per horizon (1, 2, 3 days after the newest "
    "result: whenRange), probabilityDecimal, basis, method (model versions), note. Refusals: "
    "OperationOutcome (400 malformed, 413 body over {limit} bytes, 415 media type, 422 values, "
    "429 rate limit, 503 no model).")


def capability_statement(base_url: str) -> CapabilityStatement:
    return CapabilityStatement(
        status="active",
        date=_PUBLISHED,
        kind="instance",
        name="PrCRSWeb",
        title="PrCRS web: severe CRS risk after CAR-T",
        publisher="PrCRS web",
        description="Predicts severe cytokine release syndrome (grade >= 3) 1, 2 and 3 days "
                    "ahead from a patient's laboratory Observations. Research use only.",
        software={"name": "PrCRS web"},
        implementation={"description": "PrCRS web FHIR endpoint", "url": f"{base_url}/fhir/r4"},
        fhirVersion=FHIR_VERSION,
        format=["application/fhir+json", "json"],
        rest=[{
            "mode": "server",
            "documentation": "No authentication for $predict unless the site requires API keys "
                             "(Authorization: Bearer <key>); rate-limited like the JSON API.",
            "resource": [{
                "type": "RiskAssessment",
                "operation": [{
                    "name": OPERATION_NAME,
                    "definition": f"{base_url}/fhir/r4/OperationDefinition/{DEFINITION_ID}",
                    "documentation": OPERATION_DOC.format(
                        limit=settings.PRCRS_FHIR_MAX_BODY_BYTES),
                }],
            }],
        }],
    )


def operation_definition(base_url: str) -> OperationDefinition:
    """The $predict operation: a Bundle in, a RiskAssessment out."""
    return OperationDefinition(
        id=DEFINITION_ID,
        url=f"{base_url}/fhir/r4/OperationDefinition/{DEFINITION_ID}",
        name="PrCRSPredict",
        title="Severe CRS risk from a Bundle of Observations",
        status="active",
        kind="operation",
        code=OPERATION_NAME,
        resource=["RiskAssessment"],
        system=False,
        type=True,
        instance=False,
        affectsState=False,
        description=OPERATION_DOC.format(limit=settings.PRCRS_FHIR_MAX_BODY_BYTES),
        parameter=[
            {"name": "resource", "use": "in", "min": 1, "max": "1", "type": "Bundle",
             "documentation": "The whole request body: a Bundle of type collection."},
            {"name": "return", "use": "out", "min": 1, "max": "1", "type": "RiskAssessment",
             "documentation": "One prediction per horizon (1, 2, 3 days)."},
        ],
    )
