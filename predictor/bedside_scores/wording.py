"""The published scores as the page and the API say them, in the active language."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import gettext as _

from predictor.bedside_scores.scores import ScoreValue


def not_this_site() -> str:
    return _("A published score, not this site's model: computed from the values entered, and "
             "validated at another time point and in other patients than this prediction.")


def value_text(value: float) -> str:
    return f"{value:.3g}" if value < 1000 else f"{value:.0f}"


def log2_text(score: ScoreValue) -> str:
    return "—" if score.log2 is None else f"{score.log2:.2f}"


def as_json(scores: Iterable[ScoreValue]) -> list[dict]:
    """The API's ``bedside_scores``."""
    return [{
        "key": s.score.key, "name": s.score.name, "value": s.value, "log2": s.log2,
        "inputs": dict(s.inputs),
        "formula": str(s.score.formula), "source": s.score.source,
        "population": str(s.score.population), "time_point": str(s.score.time_point),
        "published_performance": str(s.score.published), "note": not_this_site(),
    } for s in scores]
