"""The TRIPOD+AI items that apply to a model card (issue 16 item 8): intended use and users,
population and setting, outcome and horizon, predictors and missing values, sample size and
events, the new-onset subset, limitations.
Every figure comes from the file's manifest (written by the training pipeline), none by hand."""

from __future__ import annotations

import math

from django.conf import settings

from predictor.catalogue import REFERENCE_COMBINATION


def _figures(metrics: object, name: str) -> dict | None:
    section = metrics.get(name) if isinstance(metrics, dict) else None
    if not isinstance(section, dict):
        return None
    out = {}
    for key in ("auroc", "auprc", "brier"):
        value = section.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) \
                and math.isfinite(value):
            out[key] = f"{value:.3f}"
    for key in ("n", "severe"):
        value = section.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            out[key] = value
    return out or None



def tripod_context(mv, manifest: dict) -> dict:
    metrics = manifest.get("metrics")
    is_reference = mv.combination == REFERENCE_COMBINATION
    return {
        "tripod_kind": "reference" if is_reference else ("context" if mv.context else "labs"),
        "sample": _figures(metrics, "patient_cv"),
        "new_onset": _figures(metrics, "patient_cv_new_onset"),
        "new_onset_reference": None if is_reference
        else _figures(metrics, "no_lab_reference_cv_new_onset"),
        "max_imputed_percent": round(100 * float(settings.PRCRS_MAX_IMPUTED_FRACTION)),
        "has_sodium_rule": bool(manifest.get("sodium_rule")),
    }
