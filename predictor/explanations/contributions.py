"""Why this number: what each input value did to a calibrated probability (issue 16, item 2).

Model-agnostic, so it works for any file that follows the contract (spec section 4), uploaded ones
included: each input is replaced in turn by its reference value (the file's training median from
its manifest) while the others keep the entered values, and the contribution of that input is

    calibrated P(all entered)  -  calibrated P(this input at its reference value)

in probability points on the scale the physician reads, through the file's own calibration. The
entered row and the n replaced rows go through ONE batched forward of [1 + n, width] (B rows at
once for a batch: [B * (1 + n), width]); a single prediction takes its own score from that same
forward (``explained_score``), so explaining it costs no extra forward at all.

The contributions of several inputs need not add up to the total change from the all-median
patient-day: a model may combine inputs (and calibration is a step function), so each number is
"what this value changed, the others as entered".
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from predictor.catalogue import FACTORS_BY_KEY

log = logging.getLogger(__name__)

# Reference values of the context inputs where a manifest gives none (no bundled file does):
# CRS grade 0 (no CRS today) and day 3, the medians of the development sheet's patient-days
# (tests/test_explanations.py checks them against the sheet when it is there).
CONTEXT_REFERENCE = {"crs_grade": 0.0, "day": 3.0}


@dataclass(frozen=True)
class Contribution:
    """What one input value did: ``change`` is the calibrated probability with every value as
    entered minus the one with this input at ``reference`` (a fraction: 0.09 = +9 points)."""

    key: str  # a factor key, "crs_grade" or "day"
    value: float  # as the model got it (catalogue units)
    reference: float  # what it was replaced by: the file's training median
    change: float

    @property
    def points(self) -> float:
        """The change in percentage points (+9.0 = raised the estimate by 9 points)."""
        return self.change * 100


def reference_values(keys: Sequence[str], medians: Mapping[str, float] | None
                     ) -> list[float | None]:
    """Per input key, the value it is replaced by: the file's training median, else (a file
    without a manifest) the middle of the factor's typical range, and for the context inputs the
    development medians above. None where nothing is known (then that input is not explained)."""
    out: list[float | None] = []
    for key in keys:
        value = (medians or {}).get(key)
        if not _finite(value):
            if key in CONTEXT_REFERENCE:
                value = CONTEXT_REFERENCE[key]
            elif key in FACTORS_BY_KEY:
                value = sum(FACTORS_BY_KEY[key].typical) / 2
            else:
                value = None
        out.append(None if value is None else float(value))
    return out


def _finite(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def perturbed_inputs(inputs: np.ndarray, references: Sequence[float | None],
                     columns: Sequence[int]) -> np.ndarray:
    """[B, w] entered rows -> [B, 1 + len(columns), w]: each row as entered, then one copy per
    explained column j with input j at its reference value."""
    stacked = np.repeat(inputs[:, None, :].astype(np.float32), len(columns) + 1, axis=1)
    for i, j in enumerate(columns):
        stacked[:, i + 1, j] = references[j]
    return stacked


def raw_scores(module: torch.nn.Module, rows: np.ndarray, device: torch.device | str = "cpu"
               ) -> np.ndarray:
    """Softmax index 1 of the module's output for every row (one forward)."""
    x = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32)).to(device)
    with torch.inference_mode(), torch.jit.optimized_execution(False):
        out = torch.softmax(module(x), dim=1)[:, 1].double().cpu().numpy()
    if out.shape != (len(rows),):
        raise ValueError(f"output of shape {out.shape} for {len(rows)} rows")
    return out


def calibrated(calibration, raw: np.ndarray) -> np.ndarray:
    """The file's own calibration applied to an array of raw scores."""
    mapped = getattr(calibration, "probabilities", None)
    if mapped is not None:
        return np.asarray(mapped(raw), dtype=np.float64)
    many = getattr(calibration, "lookup_many", None)
    if many is not None:
        return np.asarray(many(raw)[0], dtype=np.float64)
    return np.array([calibration.lookup(float(q)).probability for q in raw], dtype=np.float64)


def _perturbed_scores(model, inputs: np.ndarray, skip: Iterable[str]
                      ) -> tuple[np.ndarray, list[int]] | None:
    """[B, w] rows -> (raw scores [B, 1 + k] of each row as entered and of its k perturbed
    copies, the k explained columns), from one forward; None when the forward raised (logged).
    Only the columns that can change anything are explained: not those in ``skip``, not those
    without a reference, not those where every row already holds the reference."""
    keys = tuple(model.factor_keys) + tuple(model.context_keys)
    batch, width = inputs.shape
    references = reference_values(keys, model.medians)
    left_out = set(skip)
    known = np.array([np.nan if ref is None else ref for ref in references], dtype=np.float32)
    moved = (inputs != known).any(axis=0) & ~np.isnan(known)  # NaN != x: excluded by ~isnan
    columns = [j for j in np.flatnonzero(moved).tolist() if keys[j] not in left_out]
    stacked = perturbed_inputs(inputs, references, columns)
    try:
        raw = raw_scores(model.module, stacked.reshape(-1, width), model.device)
    except Exception:  # noqa: BLE001 - an uploaded file's failure must not cost the answer
        log.exception("contributions: model %s failed", getattr(model, "version_label", "?"))
        return None
    return raw.reshape(batch, len(columns) + 1), columns


def _changes(model, raw: np.ndarray, columns: list[int], width: int) -> np.ndarray:
    """[B, 1 + k] finite raw scores -> [B, w] contributions (0 where a column is not explained)."""
    probability = calibrated(model.calibration, raw.reshape(-1)).reshape(raw.shape)
    changes = np.zeros((raw.shape[0], width), dtype=np.float64)
    changes[:, columns] = probability[:, :1] - probability[:, 1:]
    return changes


def change_matrix(model, inputs: np.ndarray, skip: Iterable[str] = ()) -> np.ndarray | None:
    """[B, w] -> [B, w] contributions (fractions) of a serving model (``module``,
    ``calibration``, ``medians``, ``factor_keys``, ``context_keys``, ``device``), or None when
    the file fails or gives a non-finite score on any of the rows (then nothing is explained)."""
    width = len(model.factor_keys) + len(model.context_keys)
    inputs = np.asarray(inputs, dtype=np.float32).reshape(-1, width)
    found = _perturbed_scores(model, inputs, skip)
    if found is None or not np.isfinite(found[0]).all():
        return None
    raw, columns = found
    return _changes(model, raw, columns, width)


def explained_score(model, vector: Sequence[float], *, skip: Iterable[str] = ()
                    ) -> tuple[float, tuple[Contribution, ...]] | None:
    """One prediction's raw score and its contributions (``explain``) from ONE forward: the row
    as entered is row 0 of the contributions' batch, so the prediction need not run the model
    on it again (it was one of the two forwards an API call paid). The score is the softmax of
    that row as the file gives it in a batch: it may differ from a forward of the row alone in
    the last bits of a float32 (a matrix product summed in another order), never more. None
    when the forward raised; no contributions where a perturbed row's score is not finite. The
    caller checks the score itself."""
    width = len(model.factor_keys) + len(model.context_keys)
    found = _perturbed_scores(model, np.asarray([vector], dtype=np.float32).reshape(1, width),
                              skip)
    if found is None:
        return None
    raw, columns = found
    score = float(raw[0, 0])
    if not np.isfinite(raw).all():
        return score, ()
    return score, ranked(model, vector, _changes(model, raw, columns, width)[0], skip=skip)


def explain(model, vector: Sequence[float], *, skip: Iterable[str] = ()
            ) -> tuple[Contribution, ...]:
    """The contributions of one prediction's inputs, largest first (by size, then catalogue
    order). ``vector``: the module's input as ``predict`` built it; ``skip``: keys not entered
    by the user (imputed medians), which are left out."""
    found = explained_score(model, vector, skip=skip)
    return () if found is None else found[1]


def ranked(model, vector: Sequence[float], changes: Sequence[float], *,
           skip: Iterable[str] = ()) -> tuple[Contribution, ...]:
    """One row of ``change_matrix`` as ``Contribution`` objects, largest first."""
    keys = tuple(model.factor_keys) + tuple(model.context_keys)
    references = reference_values(keys, model.medians)
    left_out = set(skip)
    found = [Contribution(key, float(value), float(ref), float(change))
             for key, value, ref, change in zip(keys, vector, references, changes)
             if key not in left_out and ref is not None]
    order = {key: i for i, key in enumerate(keys)}
    return tuple(sorted(found, key=lambda c: (-abs(round(c.change, 12)), order[c.key])))
