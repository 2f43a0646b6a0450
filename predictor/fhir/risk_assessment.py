"""The site's prediction as a FHIR RiskAssessment: one ``prediction`` per horizon."""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext as _

from fhir.resources.R4B.riskassessment import RiskAssessment

from predictor.bedside_scores.wording import log2_text, not_this_site, value_text
from predictor.fhir.observations import Inputs
from predictor.fhir.outcome import say
from predictor.fhir.scoring import FhirPrediction
from predictor.interop.codes import MODEL_VERSIONS, SEVERE_CRS_CODE, SITE, UCUM
from predictor.scoring.prediction import HorizonPrediction, horizon_name


def percent(p: float) -> str:
    """``12 %`` as the site shows a probability."""
    return f"{100 * p:.0f} %"


def interval_text(result) -> str:
    low, high = result.interval
    return f"{100 * low:.0f}-{100 * high:.0f} %"


def _decimal(p: float) -> Decimal:
    return Decimal(f"{p:.6f}")


def _days(h: int) -> dict:
    return {"value": h, "unit": "d", "system": UCUM, "code": "d"}


def rationale(result: HorizonPrediction) -> str:
    """The interval and the reference counts behind one probability."""
    text = say(_("%(probability)s (95 %% interval %(interval)s): of %(n)s reference patient-days "
                 "with a similar model score, %(severe)s developed severe CRS (model "
                 "%(version)s)."), probability=percent(result.probability),
               interval=interval_text(result), n=result.reference_n,
               severe=result.reference_severe, version=result.model_version)
    ref = result.no_lab_reference
    if ref is not None:
        text += " " + say(_("Without labs (CRS grade and day alone): %(probability)s "
                            "(%(interval)s)."), probability=percent(ref.probability),
                          interval=interval_text(ref))
    return text


def _prediction(result: HorizonPrediction) -> dict:
    return {
        "outcome": {"coding": [{"system": SITE, "code": SEVERE_CRS_CODE,
                                "display": "Severe cytokine release syndrome (grade >= 3)"}],
                    "text": _("Severe CRS (ASTCT grade 3 or higher) %(when)s") % {
                        "when": horizon_name(result.horizon)}},
        "probabilityDecimal": _decimal(result.probability),
        "whenRange": {"low": _days(result.horizon), "high": _days(result.horizon)},
        "rationale": rationale(result),
    }


def notes(prediction: FhirPrediction) -> list[str]:
    """The answer's notes: the figures' basis, what was converted, left out and ignored."""
    inputs: Inputs = prediction.inputs
    first = prediction.results[0]
    out = [_("For research use only; not a substitute for clinical judgement."),
           say(_("Values from the 24 hours up to %(newest)s; whenRange counts days after it."),
               newest=inputs.newest.isoformat())]
    if first.imputed:
        out.append(say(_("Filled from the training medians: %(keys)s."),
                       keys=", ".join(sorted(first.imputed))))
    for key, flag in first.flags.items():
        out.append(say(_("%(factor)s: %(message)s"), factor=key, message=flag))
    for key, reading in inputs.used.items():
        if reading.conversion is not None:
            out.append(say(_("%(factor)s: %(conversion)s"), factor=key,
                           conversion=reading.conversion.describe()
                           + (f" ({reading.note})" if reading.note else "")))
    if first.context is None:
        out.append(_("Today's CRS grade and the day since infusion were not given; with them the "
                     "estimate is usually more accurate."))
    for score in first.bedside_scores:  # published scores, said to be no part of the model
        out.append(say(_("%(name)s %(value)s (log2 %(log2)s; %(source)s). %(caveat)s"),
                       name=score.score.name, value=value_text(score.value),
                       log2=log2_text(score), source=score.score.source,
                       caveat=not_this_site()))
    out.extend(inputs.left_out)
    if inputs.ignored:
        out.append(say(_("Ignored (codes the catalogue does not list): %(items)s."),
                       items="; ".join(inputs.ignored)))
    return out


def risk_assessment(prediction: FhirPrediction) -> RiskAssessment:
    """The RiskAssessment of one patient-day (R4: status, subject, occurrence, method, basis,
    prediction[], note[])."""
    inputs = prediction.inputs
    subject = {"reference": inputs.subject} if inputs.subject else {
        "display": _("the patient of the submitted Observations")}
    versions = [r.model_version for r in prediction.results]
    basis = [{"reference": r.source.reference} for r in inputs.used.values()
             if r.source.reference]
    return RiskAssessment(
        status="final",
        subject=subject,
        occurrenceDateTime=inputs.newest,
        method={"coding": [{"system": MODEL_VERSIONS, "code": v}
                           for v in versions],
                "text": "PrCRS " + ", ".join(versions)},
        basis=basis or None,
        prediction=[_prediction(r) for r in prediction.results],
        note=[{"text": text} for text in notes(prediction)],
    )
