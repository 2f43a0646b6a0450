"""Ranges that fit CAR-T patients (issue 16 item 5).

The catalogue's typical range is the HEALTHY adult reference range: IL-6 0-10 pg/mL, while most
CAR-T patients with CRS have far more. Warning against it flags nearly every real entry (alarm
fatigue). The warning now uses the range of the development patients themselves: a value outside
their 0.5-99.5 percentile (per factor, over every patient-day of the cleaned CAR-T sheet) is
"unusual even for CAR-T patients: please check" (when also outside the healthy range, so a
normal value never warns); the healthy range is shown as information.

``cart_ranges`` computes the ranges from the sheet; ``python -m predictor.inputs.cart_ranges``
prints them as the literal that migration 0005 seeds and ``cart_ranges_data`` holds, and the
share of sheet rows that raise a warning before and after. The admin can edit them per factor.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

import numpy as np

from predictor.catalogue import FACTORS

LOW_PERCENTILE, HIGH_PERCENTILE = 0.5, 99.5


def cart_ranges(values: Mapping[str, np.ndarray], skip: tuple[str, ...] = ()
                ) -> dict[str, tuple[float, float]]:
    """Per factor key, the (0.5, 99.5) percentile of its values, clipped to the hard limits and
    rounded to 4 significant digits (``skip``: factors with no usable values, e.g. chloride,
    whose sheet column is not chloride; they keep the healthy range as their warning)."""
    out = {}
    for spec in FACTORS:
        if spec.key in skip or spec.key not in values:
            continue
        column = np.asarray(values[spec.key], dtype=float)
        column = column[np.isfinite(column)]
        if column.size == 0:
            continue
        low, high = np.percentile(column, [LOW_PERCENTILE, HIGH_PERCENTILE])
        low, high = max(low, spec.hard[0]), min(high, spec.hard[1])
        out[spec.key] = (float(f"{low:.4g}"), float(f"{high:.4g}"))
    return out


def warning_share(values: Mapping[str, np.ndarray], bounds: Mapping[str, tuple[float, float]]
                  ) -> tuple[float, float]:
    """(share of rows with at least one value outside its bounds, share of values outside);
    a row is one patient-day with every factor entered."""
    n = len(next(iter(values.values())))
    flagged = np.zeros(n, dtype=bool)
    outside = 0
    for key, (low, high) in bounds.items():
        column = np.asarray(values[key], dtype=float)
        out = (column < low) | (column > high)
        flagged |= out
        outside += int(out.sum())
    if not n:
        return 0.0, 0.0
    return float(flagged.mean()), outside / (n * len(bounds))


def _main(path: str) -> int:
    from predictor.training.data import UNUSED_FACTOR_KEYS, load_cart

    cohort = load_cart(path)
    values = {k: cohort.values[k].to_numpy() for k in cohort.values.columns}
    ranges = cart_ranges(values, skip=UNUSED_FACTOR_KEYS)
    healthy = {f.key: f.typical for f in FACTORS}
    # as validation.FactorLimits.warn_min/warn_max: flagged when outside both ranges
    after = dict(healthy, **{k: (min(low, healthy[k][0]), max(high, healthy[k][1]))
                             for k, (low, high) in ranges.items()})
    print("CART_RANGES = {")
    for key, (low, high) in ranges.items():
        print(f"    {key!r}: ({low!r}, {high!r}),")
    print("}")
    (rows_before, values_before), (rows_after, values_after) = (
        warning_share(values, healthy), warning_share(values, after))
    print(f"# {len(cohort.values)} patient-days of the cleaned sheet. Rows with a range warning: "
          f"{rows_before:.1%} with the healthy ranges, {rows_after:.1%} with the CAR-T ranges; "
          f"values flagged: {values_before:.1%} before, {values_after:.1%} after.")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/prcrs-public/CAR-T.xlsx"))
