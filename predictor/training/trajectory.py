"""Trajectory features of a patient's course, and the logistic regression that takes them
(evaluated in ``bench/trajectory.py``; nothing here is shipped).

For day d of a patient, for every lab factor of a combination (on the log1p scale, because the
labs are heavy-tailed and a change is better read as a ratio than as a difference):

- ``delta_prev`` = log1p(v_d) - log1p(v_{d-1}): the change since the previous day;
- ``delta_day0`` = log1p(v_d) - log1p(v_0): the change since the infusion day;

plus two indicators, ``has_prev`` and ``has_day0``. When day d-1 (or day 0) is not in the course
(the first day of a course, or a gap), the change is unknown: it is set to 0 ("no change") and the
indicator says 0, so a model can tell "unchanged" from "unknown". Only day d-1 itself counts as the
previous day; after a gap, d-2 is not used (a two-day change is a different quantity). On day 0
itself, ``delta_day0`` is 0 and ``has_day0`` is 1 (the comparison exists and is trivial).

Factors no model may use (``data.UNUSED_FACTOR_KEYS``: chloride) get no trajectory feature.
Features are computed within one patient only: the course is keyed by (patient, day), so nothing
crosses from one patient to another.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from predictor.catalogue import combination_factor_keys
from predictor.training.baselines import CLIP_Z, LogTransform
from predictor.training.context import context_features
from predictor.training.data import UNUSED_FACTOR_KEYS, CartCohort, HorizonRows


@dataclass
class Trajectory:
    """Trajectory features of N patient-days for n lab factors."""

    keys: tuple[str, ...]
    delta_prev: np.ndarray   # [N, n] log1p change since day d-1 (0 where unknown)
    delta_day0: np.ndarray   # [N, n] log1p change since day 0 (0 where unknown)
    has_prev: np.ndarray     # [N] bool: day d-1 is in the course
    has_day0: np.ndarray     # [N] bool: day 0 is in the course

    def matrix(self) -> np.ndarray:
        """[N, 2n + 2]: delta_prev, delta_day0, has_prev, has_day0 (this order)."""
        return np.hstack([self.delta_prev, self.delta_day0,
                          self.has_prev[:, None].astype(np.float64),
                          self.has_day0[:, None].astype(np.float64)])

    def names(self) -> list[str]:
        return ([f"{k}_delta_prev" for k in self.keys] + [f"{k}_delta_day0" for k in self.keys]
                + ["has_prev", "has_day0"])


def trajectory_keys(code: str) -> tuple[str, ...]:
    """The lab factors of a combination that get trajectory features (catalogue order, the
    unused factors left out)."""
    return tuple(k for k in combination_factor_keys(code) if k not in UNUSED_FACTOR_KEYS)


def course_trajectory(*, patient, day, values, keys) -> Trajectory:
    """Trajectory features of every row of a course table.

    ``patient`` and ``day`` ([N] ints) identify each row, ``values`` ([N, n], raw catalogue
    units, columns = ``keys``) are that day's lab values. Rows may come in any order. A patient
    with the same day twice is refused (which of the two is the previous day would be a guess).
    """
    patient = np.asarray(patient).astype(np.int64)
    day = np.asarray(day).astype(np.int64)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape != (len(patient), len(keys)) or len(day) != len(patient):
        raise ValueError(f"values must be [N, {len(keys)}] with one patient and day per row")
    index: dict[tuple[int, int], int] = {}
    for i, (p, d) in enumerate(zip(patient.tolist(), day.tolist())):
        if (p, d) in index:
            raise ValueError(f"patient {p} has day {d} twice (rows {index[(p, d)]} and {i})")
        index[(p, d)] = i
    logv = np.log1p(np.clip(values, 0, None))
    prev = np.array([index.get((p, d - 1), -1) for p, d in zip(patient.tolist(), day.tolist())])
    first = np.array([index.get((p, 0), -1) for p in patient.tolist()])
    has_prev, has_day0 = prev >= 0, first >= 0
    delta_prev = np.where(has_prev[:, None], logv - logv[np.maximum(prev, 0)], 0.0)
    delta_day0 = np.where(has_day0[:, None], logv - logv[np.maximum(first, 0)], 0.0)
    return Trajectory(tuple(keys), delta_prev, delta_day0, has_prev, has_day0)


def cohort_trajectory(cohort: CartCohort, *, code: str) -> Trajectory:
    """Trajectory features of every cohort row for one combination (values as trained on, i.e.
    after the sheet's sodium fix)."""
    keys = trajectory_keys(code)
    return course_trajectory(patient=cohort.patient, day=cohort.day,
                             values=cohort.values[list(keys)].to_numpy(dtype=np.float64),
                             keys=keys)


def rows_trajectory(cohort: CartCohort, rows: HorizonRows, *, code: str) -> np.ndarray:
    """``Trajectory.matrix()`` aligned with the rows of one horizon ([N, 2n + 2]). The features
    come from the whole course (the cohort), not from the horizon's rows: a patient's last days
    have no label at horizon k, but they are still the previous day of nothing, and the days
    before them are all there."""
    traj = cohort_trajectory(cohort, code=code)
    where = {(int(p), int(d)): i for i, (p, d) in enumerate(zip(cohort.patient, cohort.day))}
    try:
        idx = np.array([where[(int(p), int(d))] for p, d in zip(rows.patient, rows.day)],
                       dtype=int)
    except KeyError as exc:
        raise ValueError(f"a horizon row (patient, day) = {exc.args[0]} is not in the cohort") \
            from None
    return traj.matrix()[idx]


# --- the logistic regression on labs (+ trajectory) (+ context) -----------------------------


@dataclass
class Standardise:
    """Mean/std of the training rows, clipped to +-CLIP_Z (for features already on a log or 0/1
    scale, which ``LogTransform`` would clip at 0)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> "Standardise":
        std = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(std > 1e-9, std, 1.0))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.clip((x - self.mean) / self.std, -CLIP_Z, CLIP_Z)


@dataclass
class TrajectoryLogistic:
    """Logistic regression on [z(labs), z(trajectory), context one-hot/day] where z(labs) is the
    shipped ``LogTransform`` and the context part is ``context.context_features``. Without
    trajectory and context it is the shipped labs-only logistic regression; without trajectory,
    with context, the shipped ``ctx_lr``."""

    labs: LogTransform
    traj: Standardise | None
    context: bool
    clf: LogisticRegression
    C: float
    scale: float = 1.0   # the trajectory block is multiplied by this (its own, stronger penalty)

    def design(self, labs, traj=None, grade=None, day=None) -> np.ndarray:
        parts = [self.labs(labs)]
        if self.traj is not None:
            parts.append(self.scale * self.traj(traj))
        if self.context:
            parts.append(context_features(grade, day))
        return np.hstack(parts)

    def predict_proba(self, labs, traj=None, grade=None, day=None) -> np.ndarray:
        return self.clf.predict_proba(self.design(labs, traj, grade, day))[:, 1]


def fit_trajectory_lr_fixed(*, labs, y, C: float, seed: int, traj=None, grade=None,
                            day=None, scale: float = 1.0) -> TrajectoryLogistic:
    """One fit with a given C (``traj`` None: no trajectory; ``grade`` None: no context).
    ``scale`` < 1 shrinks the standardised trajectory block before the fit, so its weights pay
    1/scale^2 times the L2 penalty of the other weights."""
    context = grade is not None
    model = TrajectoryLogistic(LogTransform.fit(labs),
                               None if traj is None else Standardise.fit(traj), context, None, C,
                               scale)
    # the shipped labs-only LR uses max_iter 2000, the context LR 5000; both converge long before
    clf = LogisticRegression(C=C, max_iter=5000 if context else 2000, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(model.design(labs, traj, grade, day), y)
    model.clf = clf
    return model


def fit_trajectory_lr(*, train: dict, val: dict, refit: dict, grid, seed: int,
                      scales=(1.0,)):
    """(C, scale) with the lowest inner-validation log-loss (ties: the earlier pair, C varying
    fastest), then refit on ``refit``. Each of train/val/refit is a dict of
    ``fit_trajectory_lr_fixed`` arguments (labs, y and optionally traj, grade, day). Returns
    (refitted model, val predictions, C) when there is one scale, else (model, val predictions,
    (C, scale))."""
    best = None
    for scale in scales:
        for C in grid:
            m = fit_trajectory_lr_fixed(C=C, seed=seed, scale=scale, **train)
            p = m.predict_proba(**{k: v for k, v in val.items() if k != "y"})
            loss = log_loss(val["y"], np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1])
            if best is None or loss < best[0] - 1e-12:
                best = (loss, (C, scale), p)
    _, (C, scale), p_val = best
    model = fit_trajectory_lr_fixed(C=C, seed=seed, scale=scale, **refit)
    return model, p_val, (C if len(scales) == 1 else (C, scale))
