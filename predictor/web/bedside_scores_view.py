"""The result page's "published bedside scores" box: m-EASIX and EASIX as computed from the
entered values, with their source, and their AUROC on this site's development patients at the
horizons shown. Thin: the numbers come from ``predictor.bedside_scores``."""

from __future__ import annotations

from dataclasses import dataclass

from predictor.bedside_scores.development import score_auroc
from predictor.bedside_scores.wording import log2_text, value_text
from predictor.web.forms import HORIZON_TITLES


@dataclass(frozen=True)
class DevelopmentAuroc:
    title: str  # the horizon, "Tomorrow"
    all_rows: str  # "0.82"
    new_onset: str  # on the days with CRS grade below 3


@dataclass(frozen=True)
class ScoreView:
    name: str
    value: str
    log2: str
    inputs: str  # "LDH 240 U/L, CRP 80 mg/L, platelets 60 ×10⁹/L"
    formula: str
    source: str
    population: str
    time_point: str
    published: str
    development: tuple[DevelopmentAuroc, ...]


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def score_views(scores, horizons, factors) -> list[ScoreView]:
    """``scores``: a prediction's ``bedside_scores``; ``horizons``: those on the page."""
    views = []
    for s in scores:
        inputs = ", ".join(f"{factors[k].name} {v:.4g} {factors[k].unit}" if k in factors
                           else f"{k} {v:.4g}" for k, v in s.inputs)
        views.append(ScoreView(
            name=s.score.name, value=value_text(s.value), log2=log2_text(s), inputs=inputs,
            formula=str(s.score.formula), source=s.score.source,
            population=str(s.score.population), time_point=str(s.score.time_point),
            published=str(s.score.published),
            development=tuple(
                DevelopmentAuroc(str(HORIZON_TITLES[h]), _figure(score_auroc(h, "all", s.score.key)),
                                 _figure(score_auroc(h, "new_onset", s.score.key)))
                for h in horizons if score_auroc(h, "all", s.score.key) is not None)))
    return views
