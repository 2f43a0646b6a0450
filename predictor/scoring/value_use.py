"""Which entered lab values a prediction used, and which values would complete which panel.

Issue 16 item 1: with today's CRS grade and day, labs that complete no panel never block an
answer (the no-lab reference answers). The physician must then see, for every value typed,
whether it was used and why not, and what the nearest complete combinations would need and add
(from the cross-validated figures in that model's file, i.e. its model card).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from predictor.catalogue import (
    COMBINATIONS,
    CONTEXT_BOTH,
    REFERENCE_COMBINATION,
    combination_factor_keys,
)

# Why a value was or was not used (the page and the API word them; codes are stable for the API).
USED = "used"
IMPUTED = "imputed"  # not entered: filled from the training median (listed separately)
OUTSIDE_COMBINATION = "outside_combination"  # entered, the chosen combination does not take it
NO_COMPLETE_PANEL = "no_complete_panel"  # no combination usable: the no-lab reference answered
NOT_USED_BY_MODEL = "not_used_by_model"  # the file accepts it but pins it (e.g. chloride)

# How many combinations to propose when none is complete: the cheapest ones.
COMPLETIONS_SHOWN = 3


@dataclass(frozen=True)
class ValueUse:
    key: str
    used: bool
    reason: str  # one of the codes above


@dataclass(frozen=True)
class CardFigures:
    """Patient-level CV figures on the new-onset rows (grade < 3 today), from a file's manifest."""

    auroc: float | None = None
    auprc: float | None = None
    brier: float | None = None


@dataclass(frozen=True)
class Completion:
    """The values that would make one combination usable, and what its model would add over the
    no-lab reference (both from the labs + context file's manifest; None where not stated)."""

    combination: str
    missing: tuple[str, ...]
    model: CardFigures | None = None
    reference: CardFigures | None = None


def value_uses(entered: Iterable[str], *, combination: str, used_keys: Iterable[str],
               unused_by_model: Iterable[str] = ()) -> tuple[ValueUse, ...]:
    """One line per entered key, in the order given."""
    used_keys, pinned = set(used_keys), set(unused_by_model)
    out = []
    for key in entered:
        if combination == REFERENCE_COMBINATION:
            out.append(ValueUse(key, False, NO_COMPLETE_PANEL))
        elif key not in used_keys:
            out.append(ValueUse(key, False, OUTSIDE_COMBINATION))
        elif key in pinned:
            out.append(ValueUse(key, False, NOT_USED_BY_MODEL))
        else:
            out.append(ValueUse(key, True, USED))
    return tuple(out)


def _number(section: object, name: str) -> float | None:
    value = section.get(name) if isinstance(section, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def card_figures(manifest: Mapping | None, section: str) -> CardFigures | None:
    """``metrics.<section>`` of a manifest as CardFigures, None when the section is absent."""
    metrics = manifest.get("metrics") if isinstance(manifest, Mapping) else None
    part = metrics.get(section) if isinstance(metrics, dict) else None
    if not isinstance(part, dict):
        return None
    return CardFigures(_number(part, "auroc"), _number(part, "auprc"), _number(part, "brier"))


def completions(values: Mapping[str, float], snapshot, horizon: int,
                shown: int = COMPLETIONS_SHOWN) -> tuple[Completion, ...]:
    """The ``shown`` combinations needing the fewest further values (ties: better rank), each
    with the new-onset figures of its labs + context file and of the reference beside it."""
    candidates = []
    for rank, combo in enumerate(COMBINATIONS):
        missing = tuple(k for k in combination_factor_keys(combo.code) if k not in values)
        candidates.append((len(missing), rank, combo.code, missing))
    out = []
    for _, _, code, missing in sorted(candidates)[:shown]:
        model = snapshot.get(horizon, code, CONTEXT_BOTH) if snapshot is not None else None
        manifest = model.manifest if model is not None else None
        out.append(Completion(code, missing, card_figures(manifest, "patient_cv_new_onset"),
                              card_figures(manifest, "no_lab_reference_cv_new_onset")))
    return tuple(out)
