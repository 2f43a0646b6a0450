"""Choosing a family's calibration method by evidence (issue 15, spec section 5b).

Input: one family's out-of-fold (OOF) predictions per slot, with each row's label, patient,
outer fold and today's CRS grade (``SlotPredictions``). For every candidate method and every
outer fold f, the method is fitted on the OTHER folds' OOF rows only (the rows a shipped file's
baseline would hold, minus fold f's patients) and scores fold f: every probability is out of
sample for its patient. Metrics per slot, on all rows and on new-onset rows (grade < 3 today):
log loss, Brier, ECE (10 equal-width bins), calibration slope and intercept (logistic regression
of the label on the logit of the probability; the intercept with the slope fixed at 1).

THE RULE, fixed before any result was seen: per family, the method with the lowest mean nested
log loss over the family's slots (all rows); ties (equal to 4 decimals) go to the lower mean
Brier, then to the earlier method in ``CANDIDATES``. New-onset figures are reported, not used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from predictor.scoring.calibration_methods import fit_map, logistic_fit, logit
from predictor.training.evaluate import ece

# The methods compared, in the order that also breaks exact ties (the paper's method first).
CANDIDATES: tuple[tuple[str, dict], ...] = (
    ("windows", {}), ("isotonic", {}), ("platt", {}), ("beta", {}), ("identity", {}))
METRICS = ("log_loss", "brier", "ece", "slope", "intercept")
NEW_ONSET_BELOW = 3  # today's grade < 3: severe CRS tomorrow is not already under way


@dataclass(frozen=True)
class SlotPredictions:
    """One slot's OOF predictions of one family."""

    name: str  # e.g. "h1_c123_ctx"
    raw: np.ndarray
    severe: np.ndarray
    patient: np.ndarray
    fold: np.ndarray
    grade: np.ndarray


def slot_predictions(name: str, rows, result: dict, family: str) -> SlotPredictions:
    """A slot's ``SlotPredictions`` from its ``HorizonRows`` and the result of
    ``evaluate.evaluate_slot`` / ``evaluate_context.evaluate_context_slot`` / ``evaluate_reference``
    (``result["oof"][family]``, ``result["fold"]``)."""
    return SlotPredictions(name, np.asarray(result["oof"][family], dtype=np.float64),
                           np.asarray(rows.y, dtype=np.float64), np.asarray(rows.patient),
                           np.asarray(result["fold"]), np.asarray(rows.grade_today))


@dataclass(frozen=True)
class CalibrationChoice:
    method: str
    params: dict
    # method -> {"all": {metric: mean over slots}, "new_onset": {...}}
    table: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    # method -> slot name -> {"all": {...}, "new_onset": {...}}
    per_slot: dict = field(default_factory=dict)

    @property
    def manifest_entry(self) -> dict:
        """The manifest's ``calibration`` key for a file of this family."""
        return {"method": self.method, "params": dict(self.params)}


def nested_probabilities(slot: SlotPredictions, method: str, params: dict) -> np.ndarray:
    """Each row's probability from ``method`` fitted on the other outer folds' OOF rows."""
    out = np.full(len(slot.raw), np.nan)
    for f in np.unique(slot.fold):
        test = slot.fold == f
        mapping = fit_map(method, params, slot.raw[~test], slot.severe[~test])
        out[test] = mapping(slot.raw[test])
    return out


def calibration_slope_intercept(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(slope, intercept): the slope of y on logit(p), and the intercept with logit(p) as an
    offset (calibration in the large). Perfect calibration: (1, 0)."""
    z = logit(p)
    w = np.ones(len(y))
    slope = float(logistic_fit(z[:, None], y, w, ridge=1e-8)[1])
    intercept = 0.0
    for _ in range(50):  # Newton on the intercept alone, offset z
        q = 1.0 / (1.0 + np.exp(-np.clip(intercept + z, -35, 35)))
        step = float(np.sum(q - y)) / max(float(np.sum(q * (1 - q))), 1e-12)
        intercept -= step
        if abs(step) < 1e-10:
            break
    return slope, float(intercept)


SLOPE_RESAMPLES = 200
SLOPE_SEED = 20260415  # fixed: the same predictions always give the same interval


def slope_interval(y, p, patient, resamples: int = SLOPE_RESAMPLES,
                   seed: int = SLOPE_SEED) -> tuple[float, float]:
    """95 % interval of the calibration slope, resampling patients (a patient's days together):
    a slope far from 1 on a few dozen severe days may be chance. Resamples with one class only
    are skipped; (nan, nan) when none is left."""
    y, p, patient = np.asarray(y, float), np.asarray(p, float), np.asarray(patient)
    ids, index = np.unique(patient, return_inverse=True)
    rows_of = [np.flatnonzero(index == i) for i in range(len(ids))]
    rng = np.random.default_rng(seed)
    slopes = []
    for _ in range(resamples):
        rows = np.concatenate([rows_of[i] for i in rng.integers(0, len(ids), len(ids))])
        if 0 < y[rows].sum() < len(rows):
            slopes.append(calibration_slope_intercept(y[rows], p[rows])[0])
    if not slopes:
        return float("nan"), float("nan")
    low, high = np.percentile(slopes, [2.5, 97.5])
    return float(low), float(high)


def calibration_metrics(y, p) -> dict[str, float]:
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    if len(y) == 0:
        return {m: float("nan") for m in METRICS}
    clipped = np.clip(p, 1e-15, 1 - 1e-15)
    log_loss = float(-np.mean(y * np.log(clipped) + (1 - y) * np.log1p(-clipped)))
    slope, intercept = calibration_slope_intercept(y, p) if 0 < y.sum() < len(y) else (
        float("nan"), float("nan"))
    return {"log_loss": log_loss, "brier": float(np.mean((p - y) ** 2)), "ece": ece(y, p),
            "slope": slope, "intercept": intercept}


def compare_methods(slots: Sequence[SlotPredictions],
                    candidates: Sequence[tuple[str, dict]] = CANDIDATES) -> dict:
    """method -> slot name -> {"all": metrics, "new_onset": metrics}."""
    per_slot: dict = {}
    for method, params in candidates:
        per_slot[method] = {}
        for slot in slots:
            p = nested_probabilities(slot, method, params)
            new_onset = slot.grade < NEW_ONSET_BELOW
            per_slot[method][slot.name] = {
                "all": calibration_metrics(slot.severe, p),
                "new_onset": calibration_metrics(slot.severe[new_onset], p[new_onset])}
    return per_slot


def mean_table(per_slot: dict) -> dict:
    """method -> subset -> metric -> mean over the slots."""
    table = {}
    for method, slots in per_slot.items():
        table[method] = {subset: {m: float(np.nanmean([s[subset][m] for s in slots.values()]))
                                  for m in METRICS} for subset in ("all", "new_onset")}
    return table


def choose_calibration(slots: Sequence[SlotPredictions],
                       candidates: Sequence[tuple[str, dict]] = CANDIDATES) -> CalibrationChoice:
    """The rule of the module docstring, applied to one family's slots."""
    if not slots:
        raise ValueError("no slot to choose a calibration on")
    per_slot = compare_methods(slots, candidates)
    table = mean_table(per_slot)
    order = {method: i for i, (method, _) in enumerate(candidates)}
    best = min(table, key=lambda m: (round(table[m]["all"]["log_loss"], 4),
                                     round(table[m]["all"]["brier"], 4), order[m]))
    params = dict(candidates)[best]
    return CalibrationChoice(best, dict(params), table, per_slot)
