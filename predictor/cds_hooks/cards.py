"""The hook's answer: one card with the three horizons (CDS Hooks card format)."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from predictor.catalogue import REFERENCE_COMBINATION
from predictor.fhir.outcome import say
from predictor.fhir.risk_assessment import interval_text, percent
from predictor.fhir.scoring import FhirPrediction
from predictor.scoring.prediction import horizon_name

SUMMARY_MAX = 139  # the specification: under 140 characters


def indicator(probabilities: list[float]) -> str:
    """info / warning / critical by the highest probability (PRCRS_CDS_WARNING_AT and
    PRCRS_CDS_CRITICAL_AT, defaults 10 % and 30 %)."""
    highest = max(probabilities)
    if highest >= settings.PRCRS_CDS_CRITICAL_AT:
        return "critical"
    if highest >= settings.PRCRS_CDS_WARNING_AT:
        return "warning"
    return "info"


def summary(prediction: FhirPrediction) -> str:
    first = prediction.results[0]
    text = say(_("Severe CRS risk %(when)s %(probability)s (%(interval)s)"),
               when=horizon_name(first.horizon), probability=percent(first.probability),
               interval=interval_text(first))
    return text[:SUMMARY_MAX]


def detail(prediction: FhirPrediction) -> str:
    """Markdown: the three horizons, the reference, what the labs changed, and the window."""
    lines = [f"| {_('When')} | {_('Risk')} | {_('95 % interval')} | {_('Without labs')} |",
             "|---|---|---|---|"]
    for r in prediction.results:
        ref = r.no_lab_reference
        lines.append(f"| {horizon_name(r.horizon)} | {percent(r.probability)} | "
                     f"{interval_text(r)} | {percent(ref.probability) if ref else '–'} |")
    first = prediction.results[0]
    lines += ["", say(_("Of %(n)s reference patient-days with a similar model score, %(severe)s "
                        "developed severe CRS (model %(version)s)."), n=first.reference_n,
                      severe=first.reference_severe, version=first.model_version)]
    if first.labs_change is not None:
        lines.append(say(_("The labs change tomorrow's risk by %(change)s percentage points "
                           "over CRS grade and day alone."),
                         change=f"{100 * first.labs_change:+.0f}"))
    elif first.context is None:
        lines.append(_("Today's CRS grade and the day since infusion were not found; with them "
                       "the estimate is usually more accurate."))
    if first.imputed:
        lines.append(say(_("Filled from the training medians: %(keys)s."),
                         keys=", ".join(sorted(first.imputed))))
    lines.append(say(_("Results of the 24 hours up to %(newest)s."),
                     newest=prediction.inputs.newest.isoformat()))
    lines.append(_("For research use only; not a substitute for clinical judgement."))
    return "\n".join(lines)


def model_card_url(base: str, prediction: FhirPrediction) -> str:
    first = prediction.results[0]
    combination = first.combination
    with translation.override(translation.get_language()):
        if first.context is not None and combination != REFERENCE_COMBINATION:
            path = reverse("model_card_context", args=[first.horizon, combination])
        elif combination == REFERENCE_COMBINATION:
            path = reverse("model_cards")
        else:
            path = reverse("model_card", args=[first.horizon, combination])
    return base + path


def card(prediction: FhirPrediction, base: str) -> dict:
    probabilities = [r.probability for r in prediction.results]
    return {
        "summary": summary(prediction),
        "indicator": indicator(probabilities),
        "detail": detail(prediction),
        "source": {"label": "PrCRS web", "url": model_card_url(base, prediction)},
        "links": [{"label": _("Patient course (paste or upload the days)"),
                   "url": base + reverse("course"), "type": "absolute"}],
    }


def problem_card(message: str) -> dict:
    """Shown when the patient's data cannot be used (e.g. a unit that does not convert)."""
    return {"summary": _("Severe CRS risk: not computed")[:SUMMARY_MAX], "indicator": "info",
            "detail": message, "source": {"label": "PrCRS web"}}
