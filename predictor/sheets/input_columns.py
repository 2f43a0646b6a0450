"""The inputs beside the predictions in a course download (issue 16 item 6): one column per lab
factor that any row holds, headed with its name and unit, the values in catalogue units as the
models took them (percentages in %), so the file shows what produced each prediction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from predictor.catalogue import FACTORS


def input_columns(rows: Sequence, names: Mapping[str, str]) -> list[tuple[str, str]]:
    """(column key, header) for each factor present in some row, in catalogue order."""
    present = {key for row in rows for key in row.values}
    return [(f"in_{f.key}", f"{names.get(f.key, f.key)} ({'%' if f.is_fraction else f.unit})")
            for f in FACTORS if f.key in present]


def input_cells(row) -> dict[str, float]:
    """One row's values under the keys of ``input_columns``."""
    fractions = {f.key for f in FACTORS if f.is_fraction}
    return {f"in_{key}": round(value * 100, 6) if key in fractions else value
            for key, value in row.values.items()}
