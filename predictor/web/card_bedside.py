"""The model card's comparison with the published bedside scores: this file's own patient-level
CV AUROC (its manifest) beside m-EASIX and EASIX on the development patients at the same horizon
(``bedside_scores.json``, written by the pipeline). No figure is typed here."""

from __future__ import annotations

import math

from predictor.bedside_scores.development import score_auroc
from predictor.bedside_scores.scores import PUBLISHED_SCORES


def _auroc(metrics: object, name: str) -> str:
    found = metrics.get(name) if isinstance(metrics, dict) else None
    value = found.get("auroc") if isinstance(found, dict) else None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return f"{value:.3f}" if ok else "—"


def bedside_comparison(horizon: int, metrics: object) -> dict | None:
    """Rows (name, AUROC on all patient-days, AUROC on days with grade < 3) for this model and
    each published score; None where the pipeline wrote no figures for the horizon."""
    scores = [(s, score_auroc(horizon, "all", s.key), score_auroc(horizon, "new_onset", s.key))
              for s in PUBLISHED_SCORES]
    if all(all_rows is None for _, all_rows, _ in scores):
        return None
    rows = [{"name": None, "all": _auroc(metrics, "patient_cv"),
             "new_onset": _auroc(metrics, "patient_cv_new_onset"), "source": ""}]
    for score, all_rows, new_onset in scores:
        rows.append({"name": score.name, "source": score.source,
                     "all": "—" if all_rows is None else f"{all_rows:.3f}",
                     "new_onset": "—" if new_onset is None else f"{new_onset:.3f}"})
    return {"rows": rows}
