"""The course table's "why this number" cell text: the largest contributions of each day's
prediction, computed for all of the course's predictions at once (one forward per file)."""

from __future__ import annotations

from predictor.explanations.for_predictions import explain_all
from predictor.explanations.wording import short
from predictor.live_catalogue import live_catalogue
from predictor.scoring.registry import REGISTRY


def course_contributions(outcomes) -> dict[int, str]:
    """id(prediction) -> its short contributions text, for every scored day of ``outcomes``."""
    predictions = [p for outcome in outcomes if outcome.ok for p in outcome.predictions]
    if not predictions:
        return {}
    snapshot = REGISTRY.snapshot()
    factors = live_catalogue(snapshot.stamp).by_key
    found = explain_all(snapshot, predictions)
    return {id(p): short(c, factors) for p, c in zip(predictions, found)}
