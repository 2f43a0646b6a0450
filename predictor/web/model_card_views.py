"""Public model cards: what serves each (horizon, combination, context) slot, how it was trained
and how well it did, with its calibration curve drawn as a server-side SVG (no script, no inline
style) and a 95 % interval on every calibrated probability.

Labs-only files live at ``/<lang>/models/<h>/<combo>/``, labs + context files (and the no-lab
reference, combination 0) at ``/<lang>/models/<h>/<combo>/context/``.
"""

from __future__ import annotations

import math

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language, gettext_lazy as _

from predictor.catalogue import (
    COMBINATION_CODES,
    COMBINATIONS,
    CONTEXT_BOTH,
    CONTEXT_KEYS,
    CONTEXT_NONE,
    HORIZONS,
    REFERENCE_COMBINATION,
    combination_factor_keys,
)
from predictor.live_catalogue import live_catalogue
from predictor.model_versions.versions import current_stamp
from predictor.models import ModelVersion
from predictor.scoring.calibration import BOOTSTRAP_RESAMPLES, CalibrationMap
from predictor.scoring.prediction import horizon_name
from predictor.scoring.registry import REGISTRY, serving_calibration
from predictor.scoring.shown_percent import shown_interval_end, shown_percent
from predictor.scoring.trained_ranges import SPARSE_GRADE_ROWS, grade_rows, last_trained_day

# Metric keys in the order a clinician reads them, with their display names.
METRIC_LABELS = {
    "auroc": _("AUROC"), "auprc": _("AUPRC"), "brier": _("Brier score"),
    "brier_raw": _("Brier score of the raw score"), "ece": _("expected calibration error"),
    "sensitivity": _("sensitivity"), "specificity": _("specificity"),
    "ppv": _("positive predictive value"), "npv": _("negative predictive value"),
    "threshold": _("decision threshold"), "n_patients": _("patients"), "n": _("patient-days"),
    "n_days": _("patient-days"), "severe": _("severe days"), "n_severe": _("severe days"),
}
EVALUATION_LABELS = {
    "patient_cv": _("patient-level cross-validation"),
    "patient_cv_new_onset": _("patient-level cross-validation, days before onset"),
    "patient_cv_nested_selection": _("patient-level cross-validation with nested model choice"),
    "row_level_cv": _("row-level cross-validation (the paper's protocol)"),
    "no_lab_reference_auroc": _("reference without lab values (AUROC)"),
    "no_lab_reference_cv": _("no-lab reference (CRS grade and day only), same patients and folds"),
    "external": _("external validation"), "holdout": _("held-out patients"),
    "test": _("test set"), "covid": _("COVID-19 cohort"),
}

CONTEXT_INPUT_LABELS = {"crs_grade": _("Today's CRS grade (ASTCT 0–4)"),
                        "day": _("Day since CAR-T infusion")}

# Chart geometry (SVG user units).
CHART_SIZE, CHART_PAD = 320, 44
MAX_CURVE_POINTS = 400


def _active_version(horizon: int, combination: str,
                    context: str = CONTEXT_NONE) -> ModelVersion | None:
    return (ModelVersion.objects.filter(horizon=horizon, combination=combination, context=context,
                                        state=ModelVersion.State.ACTIVE)
            .defer("content").select_related("uploaded_by", "activated_by").first())


def localized(value: object) -> str:
    """A manifest text given per language (``{"en": .., "zh-hans": ..}``) or as one string."""
    if isinstance(value, dict):
        lang = "en" if (get_language() or "").startswith("en") else "zh-hans"
        for key in (lang, lang.replace("-", "_"), "en", "zh-hans", "zh_hans"):
            if value.get(key):
                return str(value[key])
        return ""
    return "" if value is None else str(value)


def _format(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.3f}" if math.isfinite(value) else "—"
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, (int, float)) for v in value):
        return f"{value[0]:.3f}–{value[1]:.3f}"  # a confidence interval
    return str(value)


def metric_tables(metrics: object) -> tuple[list, list[dict], list[dict]]:
    """Manifest ``metrics`` -> (column headers, table rows, other figures).

    Each evaluation set (``{"patient_cv": {"auroc": 0.81, ...}}``) that has any of the usual
    metrics is a table row, one column per usual metric; a flat ``{"auroc": 0.81}`` is a single
    row. Sets of other figures (``{"no_lab_reference_auroc": {"grade": 0.7}}``) are listed
    separately, as are a set's unusual keys. Text entries (notes) are left to the caller.
    """
    if not isinstance(metrics, dict) or not metrics:
        return [], [], []
    if not any(isinstance(v, dict) for v in metrics.values()):
        metrics = {"": metrics}
    sets = {name: values for name, values in metrics.items() if isinstance(values, dict)}
    keys = [k for k in METRIC_LABELS if any(k in v for v in sets.values())]
    headers = [{"key": k, "label": METRIC_LABELS[k]} for k in keys]
    rows, others = [], []
    for name, values in sets.items():
        label = EVALUATION_LABELS.get(name, name) if name else ""
        if any(k in values for k in keys):
            rows.append({"name": label, "cells": [_format(values.get(k)) for k in keys]})
        rest = [{"label": k, "value": _format(v)} for k, v in values.items()
                if k not in METRIC_LABELS and not isinstance(v, dict)]
        if rest:
            others.append({"name": label, "items": rest})
    return headers, rows, others


def _x(p: float) -> float:
    return round(CHART_PAD + p * (CHART_SIZE - 2 * CHART_PAD), 1)


def _y(p: float) -> float:
    return round(CHART_SIZE - CHART_PAD - p * (CHART_SIZE - 2 * CHART_PAD), 1)


def calibration_chart(table: CalibrationMap) -> dict:
    """Coordinates of the raw-score -> actual-probability step curve and its axes."""
    curve = sorted(table.curve())  # low to high score
    step = max(1, len(curve) // MAX_CURVE_POINTS)
    sampled = curve[::step] + ([curve[-1]] if (len(curve) - 1) % step else [])
    points, previous_rate = [], None
    for score, rate in sampled:
        if previous_rate is not None:
            points.append(f"{_x(score)},{_y(previous_rate)}")  # horizontal then vertical
        points.append(f"{_x(score)},{_y(rate)}")
        previous_rate = rate
    ticks = [{"value": f"{t:g}", "x": _x(t), "y": _y(t)} for t in (0, 0.25, 0.5, 0.75, 1)]
    return {
        "size": CHART_SIZE, "points": " ".join(points),
        "dots": [{"x": _x(s), "y": _y(r)} for s, r in sampled],
        "ticks": ticks, "low": CHART_PAD, "high": CHART_SIZE - CHART_PAD,
        "diagonal": {"x1": _x(0), "y1": _y(0), "x2": _x(1), "y2": _y(1)},
        "x_label_y": CHART_SIZE - 6, "y_label_x": 12, "middle": CHART_SIZE / 2,
    }


def calibration_rows(table: CalibrationMap) -> list[dict]:
    """The table a physician can read: at raw score q, the probability the file serves, its 95 %
    interval, and K of the N reference days with the nearest scores that were severe."""
    rows = []
    for q in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
        ref = table.lookup(q)
        low, high = ref.interval
        rows.append({"raw": f"{q:.2f}", "probability": f"{shown_percent(ref.probability)}%",
                     "interval": f"{shown_interval_end(low)}–{shown_interval_end(high)}%",
                     "n": ref.n, "severe": ref.severe})
    return rows


# The method names a card shows (manifest ``calibration.method``).
CALIBRATION_METHOD_NAMES = {
    "windows": _("the severe rate among reference days with neighbouring scores (the paper's "
                 "windows, pooled so that it never falls as the score rises)"),
    "isotonic": _("isotonic regression on the reference days, sparse blocks shrunk toward the "
                  "overall rate"),
    "platt": _("Platt scaling (a logistic curve on the raw score)"),
    "beta": _("beta calibration (Kull et al. 2017)"),
    "identity": _("the model's own probability (it is already calibrated)"),
}


def card_url(mv: ModelVersion) -> str:
    """The public card of a version's slot (labs-only or labs + context address), in the active
    language; for the admin's "view on site" and any other link to a version."""
    name = "model_card_context" if mv.context else "model_card"
    return reverse(name, args=[mv.horizon, mv.combination])


def context_inputs(manifest: dict) -> list:
    """The context inputs a file takes after its lab values, in its declared order."""
    keys = manifest.get("context_keys")
    if not isinstance(keys, list):
        return []
    return [CONTEXT_INPUT_LABELS[k] for k in keys if k in CONTEXT_INPUT_LABELS]



def version_calibration(mv: ModelVersion) -> CalibrationMap:
    """The map a version serves with: the loaded one where it is active in this process (a
    patient bootstrap is not refitted for every card view), else fitted from its row."""
    served = REGISTRY.snapshot().get(mv.horizon, mv.combination, mv.context or CONTEXT_NONE)
    if served is not None and served.version_id == mv.pk:
        return served.calibration
    return serving_calibration(mv.manifest or {}, mv.baseline or [], mv.baseline_windows)


def model_card_context(mv: ModelVersion) -> dict:
    manifest = mv.manifest or {}
    baseline = mv.baseline or []
    table = version_calibration(mv) if baseline else None
    metrics = manifest.get("metrics")
    headers, rows, others = metric_tables(metrics)
    notes = localized(metrics.get("notes")) if isinstance(metrics, dict) else ""
    catalogue = live_catalogue(current_stamp())
    inputs = [catalogue.by_key[k] for k in combination_factor_keys(mv.combination)
              if k in catalogue.by_key]
    unused_keys = manifest.get("unused_factor_keys")
    unused = [catalogue.by_key[k].name for k in combination_factor_keys(mv.combination)
              if isinstance(unused_keys, list) and k in unused_keys and k in catalogue.by_key]
    is_reference = mv.combination == REFERENCE_COMBINATION
    combination_name = (_("no lab values") if is_reference
                        else catalogue.combination_names.get(mv.combination, mv.combination))
    return {
        "is_context": bool(mv.context), "is_reference": is_reference,
        "context_inputs": context_inputs(manifest),
        "input_count": len(inputs) + len(context_inputs(manifest)),
        "unused_inputs": unused, "unused_note": localized(manifest.get("unused_factor_note")),
        # Only a labs + context file says whether its labs add anything over the reference;
        # a file that does not say (or says it in a form that is not true/false) claims nothing.
        "labs_add_information": (manifest.get("labs_add_information")
                                 if mv.context and not is_reference
                                 and isinstance(manifest.get("labs_add_information"), bool)
                                 else None),
        # figures in an uploaded file's manifest are the uploader's claims, not the site's
        "uploader_figures": mv.source != ModelVersion.Source.BUNDLED,
        "trained_ranges": trained_ranges_view(manifest, catalogue),
        "sparse_grade_rows": SPARSE_GRADE_ROWS,
        "has_reference_figures": isinstance(metrics, dict)
        and isinstance(metrics.get("no_lab_reference_cv"), dict),
        "reference_card": (_active_version(mv.horizon, REFERENCE_COMBINATION, CONTEXT_BOTH)
                           if mv.context and not is_reference else None),
        "labs_only_card": (_active_version(mv.horizon, mv.combination)
                           if mv.context and not is_reference else None),
        "context_card": (_active_version(mv.horizon, mv.combination, CONTEXT_BOTH)
                         if not mv.context else None),
        "mv": mv, "horizon_name": horizon_name(mv.horizon),
        "combination_name": combination_name,
        "training_data": localized(manifest.get("training_data")),
        "model_type": localized(manifest.get("model_type")),
        "created_at": manifest.get("created_at"), "code_version": manifest.get("code_version"),
        "metric_headers": headers, "metric_rows": rows, "metric_others": others,
        "metric_notes": notes, "inputs": inputs,
        "calibration_method": CALIBRATION_METHOD_NAMES.get(table.method, table.method)
        if table else "",
        "interval_by_patient": bool(table and table.by_patient),
        "bootstrap_resamples": BOOTSTRAP_RESAMPLES, "nearest_n": table.nearest_n if table else 0,
        "baseline_n": len(baseline), "baseline_severe": sum(int(row[1]) for row in baseline),
        "chart": calibration_chart(table) if table else None,
        "calibration_rows": calibration_rows(table) if table else [],
    }


def trained_ranges_view(manifest: dict, catalogue) -> dict | None:
    """The manifest's ``trained_ranges`` for the card: days, patient-days per grade, and each
    lab's range (catalogue names); None when the file does not record them."""
    ranges = manifest.get("trained_ranges")
    if not isinstance(ranges, dict):
        return None
    grades = grade_rows(manifest) or {}
    labs = ranges.get("labs") if isinstance(ranges.get("labs"), dict) else {}
    lab_rows = []
    for key in combination_factor_keys(manifest.get("combination") or "0") \
            if manifest.get("combination") in COMBINATION_CODES else ():
        r = labs.get(key)
        if key in catalogue.by_key and isinstance(r, dict) and _is_number(r.get("min")) \
                and _is_number(r.get("max")):
            factor = catalogue.by_key[key]
            lab_rows.append({"name": factor.name, "unit": factor.unit,
                             "min": f"{r['min']:.4g}", "max": f"{r['max']:.4g}"})
    day = ranges.get("day") if isinstance(ranges.get("day"), dict) else {}
    return {"last_day": last_trained_day(manifest),
            "first_day": day.get("min") if _is_number(day.get("min")) else None,
            "grades": [{"grade": g, "rows": n, "sparse": n < SPARSE_GRADE_ROWS}
                       for g, n in sorted(grades.items())],
            "labs": lab_rows}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def model_card(request: HttpRequest, horizon: int, combination: str) -> HttpResponse:
    """The card of the labs-only version serving a slot; 404 for an unknown or empty slot."""
    if horizon not in HORIZONS or combination not in COMBINATION_CODES:
        raise Http404(_("There is no such model slot."))
    return _render_card(request, _active_version(horizon, combination))


def context_model_card(request: HttpRequest, horizon: int, combination: str) -> HttpResponse:
    """The card of the labs + context version serving a slot, or of the no-lab reference
    (combination 0); 404 for an unknown or empty slot."""
    if horizon not in HORIZONS or combination not in (*COMBINATION_CODES, REFERENCE_COMBINATION):
        raise Http404(_("There is no such model slot."))
    return _render_card(request, _active_version(horizon, combination, CONTEXT_BOTH))


def _render_card(request: HttpRequest, mv: ModelVersion | None) -> HttpResponse:
    if mv is None:
        raise Http404(_("No model serves this slot."))
    return render(request, "predictor/model_card.html", model_card_context(mv))


def model_cards(request: HttpRequest) -> HttpResponse:
    """Every slot, by horizon and combination rank (labs only, then labs + context), and the
    no-lab reference, with the version that serves it."""
    active = {(mv.horizon, mv.combination, mv.context): mv for mv in ModelVersion.objects.filter(
        state=ModelVersion.State.ACTIVE).defer("content", "baseline")}
    catalogue = live_catalogue(current_stamp())
    slots_in_order = ([(spec.code, CONTEXT_NONE) for spec in COMBINATIONS]
                      + [(spec.code, CONTEXT_BOTH) for spec in COMBINATIONS]
                      + [(REFERENCE_COMBINATION, CONTEXT_BOTH)])
    horizons = []
    for horizon in HORIZONS:
        slots = []
        for code, context in slots_in_order:
            mv = active.get((horizon, code, context))
            metrics = ((mv.manifest or {}).get("metrics") or {}) if mv else {}
            cv = metrics.get("patient_cv", metrics) if isinstance(metrics, dict) else {}
            auroc = cv.get("auroc") if isinstance(cv, dict) else None
            slots.append({"code": code, "mv": mv, "context": context,
                          "url_name": "model_card_context" if context else "model_card",
                          "name": (_("no lab values") if code == REFERENCE_COMBINATION
                                   else catalogue.combination_names.get(code, code)),
                          "width": len(combination_factor_keys(code))
                          + (len(CONTEXT_KEYS) if context else 0),
                          "auroc": _format(auroc) if auroc is not None else "—"})
        horizons.append({"horizon": horizon, "name": horizon_name(horizon), "slots": slots})
    return render(request, "predictor/model_cards.html", {"horizons": horizons})
