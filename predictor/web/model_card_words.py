"""Words a physician reads on a model card instead of the manifest's internal keys (issue 16
item 8): figures such as ``threshold_cv_median`` or ``grade_day``, the model family prefix of
``model_type`` (``ctx_ens: ...``), and English-only notes on the Chinese card."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from django.utils.translation import get_language, gettext_lazy as _

# Figures outside the main metric columns (model_card_views.metric_tables lists them apart).
OTHER_FIGURE_LABELS = {
    "threshold_cv_median": _("decision threshold, median over the cross-validation folds"),
    "grade": _("today's CRS grade alone"),
    "grade_day": _("today's CRS grade and the day since infusion"),
    "auroc_ci": _("AUROC, 95 % interval"),
}
# Columns left out of the card's table so that it fits a screen: the Brier score of the raw
# score and the raw-score threshold serve the developers (evaluation.json keeps them); the
# physician reads the calibrated Brier score, sensitivity and specificity.
DEVELOPER_COLUMNS = ("brier_raw", "threshold")
# Evaluation sets the cards did not name yet.
MORE_EVALUATION_LABELS = {
    "no_lab_reference_cv_new_onset": _("no-lab reference, new onset (CRS grade below 3 today)"),
    "labs_only_cv": _("the same lab values without CRS grade and day, same patients and folds"),
}
# The families the training pipeline writes as the ``model_type`` prefix.
MODEL_FAMILIES = {
    "reference": _("logistic regression on today's CRS grade and the day since infusion "
                   "(no lab value)"),
    "ctx_ens": _("ensemble (equal weights) of a stacked logistic model and gradient-boosted "
                 "trees (LightGBM) on the lab values, CRS grade and day"),
    "ctx_ens_logit": _("ensemble (mean of the log-odds, equal weights) of a stacked logistic "
                       "model and gradient-boosted trees (LightGBM) on the lab values, CRS grade "
                       "and day"),
    "ens_trees": _("ensemble (equal weights) of logistic regression and gradient-boosted trees "
                   "(LightGBM) on the lab values"),
    "ens_trees_logit": _("ensemble (mean of the log-odds, equal weights) of logistic regression "
                         "and gradient-boosted trees (LightGBM) on the lab values"),
    "ctx_lr": _("logistic regression on the lab values, CRS grade and day"),
    "ctx_lgbm": _("gradient-boosted trees (LightGBM) on the lab values, CRS grade and day"),
    "ctx_stack": _("stacked logistic model: the no-lab reference plus a penalised lab effect"),
    "lr": _("logistic regression on the lab values"),
    "lgbm": _("gradient-boosted trees (LightGBM) on the lab values"),
}
# The bundled files' training_data names the management command; files trained from now on say
# "the sheet used for training" (training/pipeline.py), and the card says so for the old ones.
_COMMAND_NAMES = {"（train_models 所用的 CAR-T 表）": "（训练所用的 CAR-T 表）",
                  "(the CAR-T sheet given to train_models)": "(the CAR-T sheet used for training)"}
_PREFIX = re.compile(r"^(?P<family>[a-z_]+):\s*(?P<rest>.*)$", re.S)


def other_figure_label(key: str) -> str:
    """A figure's name: ours where known, else the key in words (an uploaded file's own)."""
    return str(OTHER_FIGURE_LABELS.get(key) or key.replace("_", " "))


def model_type_words(model_type: str) -> str:
    """``"ctx_ens: Ensemble: ..."`` -> the family in the page's language; an unknown family's
    description is shown without its internal prefix."""
    match = _PREFIX.match(model_type or "")
    if not match:
        return model_type or ""
    family = MODEL_FAMILIES.get(match["family"])
    return str(family) if family is not None else match["rest"]


def notes_for_page(notes: object, localized_text: str) -> str:
    """Manifest notes given in one language only are shown on the English card only: the
    Chinese card explains the protocol in its own words (model_card_tripod)."""
    if isinstance(notes, dict):
        return localized_text
    return localized_text if (get_language() or "").startswith("en") else ""


def training_data_words(text: str) -> str:
    for old, new in _COMMAND_NAMES.items():
        text = text.replace(old, new)
    return text


def created_words(value: object) -> object:
    """``2026-11-21T03:28:56+00:00`` -> ``2026-11-21 03:28 UTC``; anything else as it is."""
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
        return moment.strftime("%Y-%m-%d %H:%M") + " UTC"
    return moment.strftime("%Y-%m-%d %H:%M")
