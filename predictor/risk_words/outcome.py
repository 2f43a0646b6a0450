"""What the predicted outcome is, in words, for the patient-day entered.

The models predict CRS grade 3 or higher on day d + k. When today's grade is already 3 or 4,
that is no longer a question of onset but of whether severe CRS persists, and the sentence says
so (such days make up the easy part of every evaluation: spec section 8).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.translation import gettext as _

from predictor.scoring.prediction import horizon_name

SEVERE_GRADE = 3  # severe CRS: ASTCT grade 3 or 4 (the models' outcome, spec section 8)


def already_severe(context: Mapping[str, int] | None) -> bool:
    """Today's CRS grade is known and already 3 or higher."""
    grade = (context or {}).get("crs_grade")
    return isinstance(grade, int) and grade >= SEVERE_GRADE


def outcome_statement(horizon: int, context: Mapping[str, int] | None) -> str:
    """One sentence: the outcome, its day, and (grade >= 3 today) that it is persistence."""
    when = horizon_name(horizon)
    day = (context or {}).get("day")
    if already_severe(context):
        if isinstance(day, int):
            return _("Today's CRS grade is already %(grade)s: this number is the probability "
                     "that severe CRS (grade 3 or higher) persists %(when)s, on day %(target)s "
                     "since infusion.") % {"grade": context["crs_grade"], "when": when,
                                           "target": day + horizon}
        return _("Today's CRS grade is already %(grade)s: this number is the probability that "
                 "severe CRS (grade 3 or higher) persists %(when)s.") % {
            "grade": context["crs_grade"], "when": when}
    if isinstance(day, int):
        return _("Outcome: CRS grade 3 or higher %(when)s, on day %(target)s since "
                 "infusion.") % {"when": when, "target": day + horizon}
    return _("Outcome: CRS grade 3 or higher %(when)s.") % {"when": when}
