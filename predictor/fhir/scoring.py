"""One patient-day from FHIR resources through the site's own prediction path.

The values read from the Observations go to ``predictor.scoring.prediction.predict`` exactly as
the JSON API's do (same limits, same context rules, same models); its refusals become
OperationOutcome issues naming the Observation they are about.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from predictor.catalogue import HORIZONS
from predictor.fhir.observations import (
    Inputs,
    Located,
    Readings,
    inputs_for_window,
    problems_to_issues,
    read_resources,
)
from predictor.fhir.outcome import FhirRefusal, Issue
from predictor.inputs.unit_entry import annotate_errors
from predictor.scoring.prediction import HorizonPrediction, InvalidInput, ModelUnavailable, predict


@dataclass
class FhirPrediction:
    results: list[HorizonPrediction]
    inputs: Inputs
    found: Readings


def predict_resources(items: Sequence[Located]) -> FhirPrediction:
    """All three horizons for the newest 24 hours of ``items``; FhirRefusal when they cannot
    be used (422 naming the resource and element) or no model serves them (503)."""
    found = read_resources(items)
    inputs = inputs_for_window(found)
    if inputs.newest is None:
        raise FhirRefusal.one(422, "required", _(
            "No Observation with a code the catalogue lists was found: nothing to predict "
            "from (GET /api/v1/catalogue lists the codes)."), "Bundle.entry")
    try:
        results = predict(inputs.values, list(HORIZONS), percent_input=False,
                          context=inputs.context or None)
    except InvalidInput as exc:
        errors = annotate_errors(exc.errors, inputs.conversions)
        raise FhirRefusal(422, problems_to_issues(errors, inputs, found)) from None
    except ModelUnavailable as exc:
        raise FhirRefusal(503, [Issue("transient", exc.message)],
                          headers={"Retry-After": "300"}) from None
    return FhirPrediction(results, inputs, found)
