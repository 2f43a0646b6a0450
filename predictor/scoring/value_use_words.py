"""Words for ``predictor.scoring.value_use``: each entered value's use and the panel completions,
shared by the result page and the JSON API so both say the same thing."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from predictor.live_catalogue import LiveCatalogue
from predictor.scoring import value_use as vu


@dataclass(frozen=True)
class ValueUseLine:
    key: str
    name: str
    used: bool
    reason: str  # code, see value_use
    text: str  # the reason in words


@dataclass(frozen=True)
class CompletionLine:
    combination: str
    combination_name: str
    missing: tuple[str, ...]  # factor names, catalogue order
    missing_keys: tuple[str, ...]
    gain: str  # what the model would add, from its card; "" when the card says nothing


def reason_text(reason: str, combination: str) -> str:
    if reason == vu.USED:
        return _("used by the %(code)s model") % {"code": combination}
    if reason == vu.OUTSIDE_COMBINATION:
        return _("not used: the %(code)s model does not take it") % {"code": combination}
    if reason == vu.NOT_USED_BY_MODEL:
        return _("not used: accepted, but this model does not use it")
    return _("not used: it completes no panel, so the no-lab reference (CRS grade and day) "
             "answered")


def value_use_lines(uses, combination: str, catalogue: LiveCatalogue) -> list[ValueUseLine]:
    lines = [ValueUseLine(u.key, str(catalogue.by_key[u.key].name), u.used, u.reason,
                          reason_text(u.reason, combination))
             for u in uses if u.key in catalogue.by_key]
    return sorted(lines, key=lambda line: catalogue.by_key[line.key].position)


def gain_text(completion: vu.Completion) -> str:
    model, ref = completion.model, completion.reference
    if model is None or ref is None or model.auprc is None or ref.auprc is None:
        return ""
    text = _("Cross-validated on patient-days with CRS grade below 3: AUPRC %(model)s with this "
             "model, %(reference)s without labs") % {"model": f"{model.auprc:.2f}",
                                                     "reference": f"{ref.auprc:.2f}"}
    if model.brier is not None and ref.brier is not None:
        text += _("; Brier score %(model)s with it, %(reference)s without (lower is better)") % {
            "model": f"{model.brier:.3f}", "reference": f"{ref.brier:.3f}"}
    return text + "."


def completion_lines(completions, catalogue: LiveCatalogue) -> list[CompletionLine]:
    return [CompletionLine(
        c.combination, str(catalogue.combination_names.get(c.combination, c.combination)),
        tuple(str(catalogue.by_key[k].name) for k in c.missing if k in catalogue.by_key),
        c.missing, gain_text(c)) for c in completions]


def value_use_json(uses, combination: str) -> list[dict]:
    return [{"key": u.key, "used": u.used, "reason": u.reason,
             "reason_text": reason_text(u.reason, combination)} for u in uses]


def completions_json(completions) -> list[dict]:
    return [{"combination": c.combination, "missing": list(c.missing),
             "new_onset_cv": None if c.model is None else vars(c.model),
             "no_lab_reference_new_onset_cv": None if c.reference is None else vars(c.reference),
             "note": gain_text(c) or None} for c in completions]
