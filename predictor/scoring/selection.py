"""Which panel combination's model to run for the entered values (spec section 2).

The rule: the highest-ranked combination (1234, 123, 4, 23, 3, 2) whose panels are all present.
A panel is present when every factor in it is entered, or, optionally, when only a few are
missing (at most ``max_imputed_fraction`` of the panel) and the model's training medians can
fill them in; imputed values are always reported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from predictor.catalogue import COMBINATIONS, combination_factor_keys, panel_factor_keys


@dataclass(frozen=True)
class Selection:
    combination: str
    vector: tuple[float, ...]  # in the combination's (catalogue) order
    ignored: tuple[str, ...]  # entered keys the chosen model does not take
    imputed: dict[str, float] = field(default_factory=dict)  # key -> training median used


@dataclass(frozen=True)
class Shortfall:
    """The cheapest way to make some combination usable: which values are missing."""

    combination: str
    missing: tuple[str, ...]


def imputable_count(panel: int, max_imputed_fraction: float) -> int:
    """How many values of a panel may be filled from medians (20 % of 9 factors -> 1)."""
    return math.floor(len(panel_factor_keys(panel)) * max_imputed_fraction + 1e-9)


def _complete_panel(panel: int, values: Mapping[str, float], medians: Mapping[str, float] | None,
                    max_imputed_fraction: float) -> dict[str, float] | None:
    """Medians that complete the panel, {} when it is complete, None when it cannot be."""
    missing = [k for k in panel_factor_keys(panel) if k not in values]
    if not missing:
        return {}
    entered = len(panel_factor_keys(panel)) - len(missing)
    if (entered == 0 or medians is None
            or len(missing) > imputable_count(panel, max_imputed_fraction)
            or any(k not in medians for k in missing)):
        return None
    return {k: float(medians[k]) for k in missing}


def choose_combination(values: Mapping[str, float], *,
                       medians: Mapping[str, Mapping[str, float]] | None = None,
                       max_imputed_fraction: float = 0.0) -> Selection | None:
    """Pick the best usable combination, or None when none is usable.

    ``medians`` maps a combination code to that model's training medians (from its manifest);
    a combination without medians is never imputed.
    """
    for combo in COMBINATIONS:
        combo_medians = (medians or {}).get(combo.code)
        imputed: dict[str, float] = {}
        for panel in combo.panels:
            filled = _complete_panel(panel, values, combo_medians, max_imputed_fraction)
            if filled is None:
                break
            imputed.update(filled)
        else:
            keys = combination_factor_keys(combo.code)
            vector = tuple(values[k] if k in values else imputed[k] for k in keys)
            ignored = tuple(k for k in values if k not in keys)
            return Selection(combo.code, vector, ignored, imputed)
    return None


def cheapest_shortfall(values: Mapping[str, float]) -> Shortfall:
    """The combination needing the fewest further values (ties: the better-ranked one)."""
    best: Shortfall | None = None
    for combo in COMBINATIONS:
        missing = tuple(k for k in combination_factor_keys(combo.code) if k not in values)
        if best is None or len(missing) < len(best.missing):
            best = Shortfall(combo.code, missing)
    assert best is not None
    return best
