"""FHIR Bundles for the tests and the bench, built with fhir.resources from catalogue values
(a dict of factor key -> value in the catalogue's units, fractions 0-1), as an EHR would send
them: each value as an Observation with the factor's first LOINC code and UCUM unit."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.procedure import Procedure

from predictor.catalogue import FACTORS_BY_KEY
from predictor.interop.codes import (
    CONTEXT_CODES,
    FACTOR_CODES,
    INFUSION_CODE,
    SITE,
    UCUM,
)

T0 = dt.datetime(2026, 3, 2, 7, 30, tzinfo=dt.timezone.utc)


def observation(key: str, value: float, *, at: dt.datetime = T0, patient: str = "Patient/p1",
                code_index: int = 0, unit: str | None = None, obs_id: str | None = None,
                as_entered: bool = False) -> dict:
    """One Observation of factor or context ``key``. ``value`` in catalogue units (a fraction
    for percentages, sent as %) unless ``as_entered`` (then sent as given, in ``unit``)."""
    is_context = key in CONTEXT_CODES
    code = (CONTEXT_CODES if is_context else FACTOR_CODES)[key][code_index]
    ucum = unit or code.units[0].ucum
    sent = value
    if not as_entered and not is_context and FACTORS_BY_KEY[key].is_fraction:
        sent = value * 100
    body = {
        "resourceType": "Observation", "id": obs_id or f"{key.replace('_', '-')}-{uuid.uuid4().hex[:8]}",
        "status": "final",
        "code": {"coding": [{"system": code.system, "code": code.code, "display": code.display}]},
        "subject": {"reference": patient},
        "effectiveDateTime": at.isoformat(),
    }
    if key == "crs_grade":
        body["valueInteger"] = int(value)
    else:
        body["valueQuantity"] = {"value": round(sent, 6), "unit": ucum, "system": UCUM,
                                 "code": ucum}
    return json.loads(Observation.model_validate(body).model_dump_json(exclude_none=True))


def infusion(date: dt.date, patient: str = "Patient/p1") -> dict:
    return json.loads(Procedure.model_validate({
        "resourceType": "Procedure", "id": "infusion", "status": "completed",
        "code": {"coding": [{"system": SITE, "code": INFUSION_CODE}]},
        "subject": {"reference": patient}, "performedDateTime": date.isoformat(),
    }).model_dump_json(exclude_none=True))


def bundle(resources: list[dict], kind: str = "collection") -> dict:
    return json.loads(Bundle.model_validate({
        "resourceType": "Bundle", "type": kind,
        "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r} for r in resources],
    }).model_dump_json(exclude_none=True))


def day_bundle(values: dict[str, float], *, at: dt.datetime = T0, grade: int | None = None,
               day: int | None = None, patient: str = "Patient/p1",
               extra: list[dict] | None = None) -> dict:
    """One patient-day: every value at ``at``, with the context when given."""
    resources = [observation(k, v, at=at, patient=patient) for k, v in values.items()]
    if grade is not None:
        resources.append(observation("crs_grade", grade, at=at, patient=patient))
    if day is not None:
        resources.append(observation("day", day, at=at, patient=patient))
    return bundle(resources + (extra or []))
