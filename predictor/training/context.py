"""Models that also take the clinical context (today's CRS grade and the day since infusion).

Input of a context model: the combination's lab factors (catalogue order, raw units), then
``crs_grade`` (0-4) and ``day`` (days since infusion), the order of ``CONTEXT_KEYS``. The no-lab
reference (combination "0") takes the two context values only.

Three of the families are one linear form, so one TorchScript module serves them all:

    logit = intercept + z(labs) . w + onehot(grade) . g + (d, d^2) . v,
    d = clamp(day, 0, last trained day) / 10,   g non-decreasing in the grade

where z is log1p + standardised + clipped (``baselines.LogTransform``):
- the reference (``predictor.no_lab_reference``): no labs (w empty), grade and day (C = 1);
- context logistic regression: labs and context together, C chosen on inner validation;
- stacked: the reference's logit as a fixed offset plus an L2-penalised lab effect (penalty chosen
  on inner validation; an infinite penalty means "the labs add nothing" and gives the reference).
LightGBM and the PrCRS network take the raw [labs, grade, day] vector as they are.

No extrapolation (issue 15): the linear families are FITTED with the grade as one number whose
weight is bounded >= 0 (so g = [0, b, 2b, 3b, 4b]: the risk never falls as the grade rises) and
a linear day term (v = (v1, 0)) clamped to the last day the model was trained on (``max_day``).
The exported module keeps the general form above. (A first version fitted one step per grade
and d, d^2; on the same outer folds the plain logistic regression on grade + day beat it, see
models_store/README.md.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize
from torch import nn

from predictor import no_lab_reference
from predictor.catalogue import CRS_GRADE_RANGE, DAY_RANGE
from predictor.training.baselines import CLIP_Z, LogTransform, tree_score

N_GRADES = CRS_GRADE_RANGE[1] + 1
DAY_SCALE = 10.0


def context_features(grade, day, max_day: float = DAY_RANGE[1]) -> np.ndarray:
    """One-hot of the grade (rounded, clipped to 0-4), then d and d^2 with d = day / 10 (day
    clipped to 0..max_day, the last trained day). [N, 7]."""
    g = np.clip(np.rint(np.nan_to_num(np.asarray(grade, dtype=float))), *CRS_GRADE_RANGE)
    d = np.clip(np.nan_to_num(np.asarray(day, dtype=float)), DAY_RANGE[0], max_day)[:, None] \
        / DAY_SCALE
    return np.hstack([np.eye(N_GRADES)[g.astype(int)], d, d ** 2])


def _linear_features(grade, day, max_day: float) -> np.ndarray:
    """The fitting design: the grade as one number (its weight is bounded >= 0, so the risk
    never falls as the grade rises) and d = day / 10, the day clamped to the trained days."""
    g = np.clip(np.rint(np.nan_to_num(np.asarray(grade, dtype=float))), *CRS_GRADE_RANGE)
    d = np.clip(np.nan_to_num(np.asarray(day, dtype=float)), DAY_RANGE[0], max_day) / DAY_SCALE
    return np.column_stack([g, d])


def _linear_to_context_coef(grade_w: float, day_w: float) -> np.ndarray:
    """(grade slope, day slope) -> the module's weights: one-hot [0, b, 2b, 3b, 4b], (d, d^2) =
    (v, 0). The exported form is unchanged; only the fit is constrained."""
    return np.concatenate([grade_w * np.arange(N_GRADES, dtype=float), [day_w, 0.0]])


def fit_penalised_logistic(features: np.ndarray, y: np.ndarray, C: float,
                           nonneg: np.ndarray) -> tuple[np.ndarray, float]:
    """Minimise the summed log-loss + |w|^2 / (2C) (sklearn's L2 convention; the intercept is
    not penalised) with ``w[nonneg] >= 0``. Returns (w, intercept)."""
    f = np.asarray(features, dtype=float)
    y = np.asarray(y, dtype=float)
    n = f.shape[1]

    def loss(theta):
        b, w = theta[0], theta[1:]
        s = f @ w + b
        p = 1.0 / (1.0 + np.exp(-s))
        r = p - y
        return (np.sum(np.logaddexp(0.0, s) - y * s) + (w @ w) / (2 * C),
                np.concatenate([[r.sum()], f.T @ r + w / C]))

    bounds = [(None, None)] + [(0.0, None) if nonneg[j] else (None, None) for j in range(n)]
    prior = np.clip(y.mean(), 1e-3, 1 - 1e-3)
    start = np.concatenate([[math.log(prior / (1 - prior))], np.zeros(n)])
    res = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": 5000})
    return res.x[1:].copy(), float(res.x[0])


def grade_monotone(n_labs: int) -> list[int]:
    """LightGBM ``monotone_constraints`` for a [labs, grade, day] input: non-decreasing in the
    grade, free elsewhere (a tree is flat beyond its last split, so the day cannot run away)."""
    return [0] * n_labs + [1, 0]


def trained_max_day(day) -> float:
    """The last day a model is trained on (its day input is clamped there)."""
    return float(np.max(np.asarray(day, dtype=float))) if len(day) else float(DAY_RANGE[1])


def split(xctx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[labs..., grade, day] -> (labs, grade, day)."""
    return xctx[:, :-2], xctx[:, -2], xctx[:, -1]


@dataclass
class LinearContextModel:
    """The linear form of the module docstring (numpy side; ``LinearContextModule`` exports it)."""

    transform: LogTransform | None   # None: no lab factor
    lab_coef: np.ndarray             # [n]
    context_coef: np.ndarray         # [7]: 5 grades (non-decreasing), d, d^2
    intercept: float
    info: dict
    max_day: float = float(DAY_RANGE[1])  # the last trained day: the day is clamped there

    def logit(self, xctx: np.ndarray) -> np.ndarray:
        labs, grade, day = split(np.asarray(xctx, dtype=np.float64))
        s = context_features(grade, day, self.max_day) @ self.context_coef + self.intercept
        if self.transform is not None and labs.shape[1]:
            s = s + self.transform(labs) @ self.lab_coef
        return s

    def predict_proba(self, xctx: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(xctx)))


def _fit_monotone(labs_z: np.ndarray | None, grade, day, y, C: float):
    """Penalised logistic regression on [z(labs), grade, d] with the grade's weight >= 0 and
    the day clamped to the trained days. Returns (lab weights, one-hot context weights [7],
    intercept, max_day)."""
    max_day = trained_max_day(day)
    ctx = _linear_features(grade, day, max_day)
    n = 0 if labs_z is None else labs_z.shape[1]
    features = ctx if n == 0 else np.hstack([labs_z, ctx])
    nonneg = np.zeros(features.shape[1], dtype=bool)
    nonneg[n] = True
    w, b = fit_penalised_logistic(features, y, C, nonneg)
    return w[:n].copy(), _linear_to_context_coef(w[n], w[n + 1]), b, max_day


def fit_reference(xctx: np.ndarray, y: np.ndarray, seed: int) -> LinearContextModel:
    """The no-lab reference (``predictor.no_lab_reference``): grade steps >= 0 and day (d, d^2,
    held within the trained days), C = no_lab_reference.C. ``seed`` is unused (a convex fit)."""
    _, grade, day = split(xctx)
    _, coef, b, max_day = _fit_monotone(None, grade, day, y, no_lab_reference.C)
    return LinearContextModel(None, np.zeros(0), coef, b, {"C": no_lab_reference.C}, max_day)


def _fit_context_lr_fixed(xctx, y, C, seed) -> LinearContextModel:
    labs, grade, day = split(xctx)
    t = LogTransform.fit(labs)
    w, coef, b, max_day = _fit_monotone(t(labs), grade, day, y, C)
    return LinearContextModel(t, w, coef, b, {"C": C}, max_day)


def _fit_stacked_fixed(xctx, y, lam, seed) -> LinearContextModel:
    """Reference logit (fitted on the same rows) as a fixed offset; minimise the summed log-loss
    + lam/2 * |w|^2 over an unpenalised shift b and the lab weights w (lam = inf: w = 0)."""
    ref = fit_reference(xctx, y, seed)
    labs, _, _ = split(xctx)
    t = LogTransform.fit(labs)
    z = t(labs)
    offset = ref.logit(xctx)
    n = z.shape[1]
    y = np.asarray(y, dtype=float)

    def loss(theta):
        b, w = theta[0], theta[1:]
        s = offset + b + z @ w
        p = 1.0 / (1.0 + np.exp(-s))
        value = np.sum(np.logaddexp(0.0, s) - y * s) + 0.5 * lam * (w @ w)
        r = p - y
        return value, np.concatenate([[r.sum()], z.T @ r + lam * w])

    if math.isinf(lam) or n == 0:
        res = minimize(_shift_only, np.zeros(1), args=(offset, y), jac=True, method="L-BFGS-B")
        b, w = float(res.x[0]), np.zeros(n)
    else:
        res = minimize(loss, np.zeros(n + 1), jac=True, method="L-BFGS-B",
                       options={"maxiter": 2000})
        b, w = float(res.x[0]), res.x[1:].copy()
    return LinearContextModel(t, w, ref.context_coef.copy(), ref.intercept + b,
                              {"lambda": lam, "reference_C": no_lab_reference.C}, ref.max_day)


def _shift_only(theta, offset, y):
    s = offset + theta[0]
    p = 1.0 / (1.0 + np.exp(-s))
    return np.sum(np.logaddexp(0.0, s) - y * s), np.array([np.sum(p - y)])


def fit_context_lr_fixed(xctx, y, C, seed) -> LinearContextModel:
    return _fit_context_lr_fixed(xctx, y, C, seed)


def fit_stacked_fixed(xctx, y, lam, seed) -> LinearContextModel:
    return _fit_stacked_fixed(xctx, y, lam, seed)


class LinearContextModule(nn.Module):
    """``LinearContextModel`` as TorchScript: raw [B, n + 2] -> logits [B, 2] = (0, logit).
    A NaN lab is the training median (exp of the log mean, as ``LogisticModule``); a NaN grade
    or day is 0 (the site always sends both)."""

    def __init__(self, model: LinearContextModel):
        super().__init__()
        n = len(model.lab_coef)
        t = model.transform
        mean = np.zeros(n) if t is None or n == 0 else t.mean
        std = np.ones(n) if t is None or n == 0 else t.std
        self.n = n
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(n))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).reshape(n))
        self.register_buffer("lab_coef",
                             torch.as_tensor(model.lab_coef, dtype=torch.float32).reshape(n))
        self.register_buffer("grade_coef",
                             torch.as_tensor(model.context_coef[:N_GRADES], dtype=torch.float32))
        self.register_buffer("day_coef",
                             torch.as_tensor(model.context_coef[N_GRADES:], dtype=torch.float32))
        self.intercept = float(model.intercept)
        self.clip = CLIP_Z
        self.max_grade = float(CRS_GRADE_RANGE[1])
        self.max_day = float(model.max_day)
        self.day_scale = DAY_SCALE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = linear_context_logit(x, self.n, self.mean, self.std, self.lab_coef, self.grade_coef,
                                 self.day_coef, self.intercept, self.clip, self.max_grade,
                                 self.max_day, self.day_scale)
        return torch.stack([torch.zeros_like(s), s], dim=1)


def linear_context_logit(x: torch.Tensor, n: int, mean: torch.Tensor, std: torch.Tensor,
                         lab_coef: torch.Tensor, grade_coef: torch.Tensor,
                         day_coef: torch.Tensor, intercept: float, clip: float, max_grade: float,
                         max_day: float, day_scale: float) -> torch.Tensor:
    """The logit of ``LinearContextModule``; a plain function so ``ContextEnsembleModule`` can
    inline it into its single graph."""
    labs = x[:, :n]
    labs = torch.where(torch.isnan(labs), torch.expm1(mean).unsqueeze(0).expand_as(labs), labs)
    z = torch.clamp((torch.log1p(torch.clamp(labs, min=0.0)) - mean) / std, -clip, clip)
    ctx = torch.nan_to_num(x[:, n:], nan=0.0)
    grade = torch.clamp(torch.round(ctx[:, 0]), 0.0, max_grade).long()
    d = torch.clamp(ctx[:, 1], 0.0, max_day) / day_scale
    return (z @ lab_coef + grade_coef[grade] + d * day_coef[0] + d * d * day_coef[1]
            + intercept)


class ContextEnsembleModule(nn.Module):
    """The ``ctx_ens`` family (stacked linear model + LightGBM, weighted mean of probabilities;
    ``ctx_ens_logit``: of log-odds),
    with the unused factors pinned, as ONE module whose forward is one TorchScript graph. The
    same arithmetic as ``UnusedFactors(EnsembleModule([LinearContextModule, TreeEnsembleModule]))``
    in the same order, but one graph instead of four: less memory in every site worker (39
    files are loaded per worker). Built from the two member modules, eager or already scripted.
    """

    def __init__(self, linear: nn.Module, tree: nn.Module, weights: list[float], width: int,
                 pin_columns: list[int], pin_values: list[float], logit_mean: bool = False):
        super().__init__()
        self.logit_mean = bool(logit_mean)  # ``ctx_ens_logit``: the mean of the log-odds
        for name in ("mean", "std", "lab_coef", "grade_coef", "day_coef"):
            self.register_buffer(f"lin_{name}", getattr(linear, name).detach().clone())
        self.n = int(linear.n)
        self.intercept = float(linear.intercept)
        self.clip = float(linear.clip)
        self.max_grade = float(linear.max_grade)
        self.max_day = float(linear.max_day)
        self.day_scale = float(linear.day_scale)
        for name in ("feature", "threshold", "left", "right", "value", "medians"):
            self.register_buffer(f"tree_{name}", getattr(tree, name).detach().clone())
        self.depth = int(tree.depth)
        self.w_linear = float(weights[0])
        self.w_tree = float(weights[1])
        mask = torch.zeros(width, dtype=torch.bool)
        values = torch.zeros(width, dtype=torch.float32)
        for c, v in zip(pin_columns, pin_values):
            mask[c] = True
            values[c] = float(v)
        self.register_buffer("pin_mask", mask)
        self.register_buffer("pin_values", values)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.where(self.pin_mask.unsqueeze(0), self.pin_values.unsqueeze(0).expand_as(x), x)
        s = linear_context_logit(x, self.n, self.lin_mean, self.lin_std, self.lin_lab_coef,
                                 self.lin_grade_coef, self.lin_day_coef, self.intercept,
                                 self.clip, self.max_grade, self.max_day, self.day_scale)
        score = tree_score(x, self.tree_medians, self.tree_feature, self.tree_threshold,
                           self.tree_left, self.tree_right, self.tree_value, self.depth)
        p_linear = torch.softmax(torch.stack([torch.zeros_like(s), s], dim=1), dim=1)[:, 1]
        p_tree = torch.softmax(torch.stack([torch.zeros_like(score), score], dim=1), dim=1)[:, 1]
        if self.logit_mean:  # the same clamp and log-odds as EnsembleModule's
            p_linear = torch.clamp(p_linear, 1e-7, 1.0 - 1e-7)
            p_tree = torch.clamp(p_tree, 1e-7, 1.0 - 1e-7)
            z = (self.w_linear * (torch.log(p_linear) - torch.log1p(-p_linear))
                 + self.w_tree * (torch.log(p_tree) - torch.log1p(-p_tree)))
            return torch.stack([torch.zeros_like(z), z], dim=1)
        p = torch.zeros(x.shape[0], dtype=torch.float32, device=x.device)
        p = p + self.w_linear * p_linear
        p = p + self.w_tree * p_tree
        p = torch.clamp(p, 1e-7, 1.0 - 1e-7)
        return torch.stack([torch.log1p(-p), torch.log(p)], dim=1)
