"""Risk in words beside each percentage of the result page: a natural frequency of 100 and an
icon array of 100 (``predictor.risk_words``); thin, for the template."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.safestring import SafeString

from predictor.risk_words.frequency import natural_frequency
from predictor.risk_words.icon_array import icon_array
from predictor.scoring.prediction import horizon_name


@dataclass(frozen=True)
class RiskWords:
    frequency: str  # "About 7 in 100 patient-days like this one are followed by ..."
    icons: SafeString  # the icon array, an accessible SVG
    reference_frequency: str = ""  # the same for the no-lab reference beside it


def risk_words(result) -> RiskWords:
    """``result``: a HorizonPrediction."""
    when = str(horizon_name(result.horizon))
    found = natural_frequency(result.probability, when)
    reference = result.no_lab_reference
    return RiskWords(
        frequency=found.text,
        icons=icon_array(found.count, title=found.text, chart_id=f"icons-h{result.horizon}"),
        reference_frequency=natural_frequency(reference.probability, when).text
        if reference is not None else "")
