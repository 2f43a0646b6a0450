"""Reference models on the same folds: logistic regression (log1p + standardised), LightGBM, and
the no-lab references (today's CRS grade alone; today's grade + day since infusion).

The logistic regression can also be written as a TorchScript module (``LogisticModule``), so it
can ship on its own or inside an ensemble with the network.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from torch import nn

from predictor.training.recipe import Recipe

CLIP_Z = 6.0


@dataclass
class LogTransform:
    """log1p(max(x, 0)), standardised with the training mean/std, clipped to +-6."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> "LogTransform":
        logx = np.log1p(np.clip(x, 0, None))
        std = logx.std(axis=0)
        return cls(logx.mean(axis=0), np.where(std > 1e-9, std, 1.0))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.clip((np.log1p(np.clip(x, 0, None)) - self.mean) / self.std, -CLIP_Z, CLIP_Z)


@dataclass
class LogisticModel:
    transform: LogTransform
    clf: LogisticRegression
    C: float

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.clf.predict_proba(self.transform(x))[:, 1]


def fit_logistic_fixed(x, y, C, seed) -> LogisticModel:
    """Logistic regression (log1p + standardised) with a given C."""
    t = LogTransform.fit(x)
    clf = LogisticRegression(C=C, max_iter=2000, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(t(x), y)
    return LogisticModel(t, clf, C)


def fit_logistic(x_tr, y_tr, x_val, y_val, recipe: Recipe, seed: int, refit_x=None, refit_y=None):
    """Choose C on inner validation (log-loss), then refit on (refit_x, refit_y) if given.
    Returns (model used for reporting, inner-validation model's val predictions, C)."""
    best = None
    for C in recipe.lr_grid:
        m = fit_logistic_fixed(x_tr, y_tr, C, seed)
        p = m.predict_proba(x_val)
        loss = log_loss(y_val, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1])
        if best is None or loss < best[0] - 1e-12:
            best = (loss, C, m, p)
    _, C, m, p_val = best
    if refit_x is not None:
        m = fit_logistic_fixed(refit_x, refit_y, C, seed)
    return m, p_val, C


@dataclass
class LGBMModel:
    booster: lgb.Booster
    rounds: int

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.booster.predict(np.asarray(x, dtype=np.float64), num_iteration=self.rounds)


def _lgb_params(recipe: Recipe, seed: int, monotone: list[int] | None = None) -> dict:
    params = dict(recipe.lgbm_params)
    params["seed"] = seed
    params["num_threads"] = params.pop("n_jobs", 1)
    if monotone is not None:
        params["monotone_constraints"] = list(monotone)
    return params


def fit_lgbm(x_tr, y_tr, x_val, y_val, recipe: Recipe, seed: int, refit_x=None, refit_y=None,
             monotone: list[int] | None = None):
    """Rounds by early stopping on inner validation, then refit with those rounds if asked.
    ``monotone``: LightGBM monotone constraints, one per column (1 = non-decreasing)."""
    params = _lgb_params(recipe, seed, monotone)
    dtr = lgb.Dataset(x_tr, label=y_tr, free_raw_data=False)
    dval = lgb.Dataset(x_val, label=y_val, reference=dtr, free_raw_data=False)
    booster = lgb.train(params, dtr, num_boost_round=recipe.lgbm_max_rounds, valid_sets=[dval],
                        callbacks=[lgb.early_stopping(20, verbose=False)])
    rounds = max(1, booster.best_iteration or recipe.lgbm_max_rounds)
    p_val = booster.predict(x_val, num_iteration=rounds)
    model = LGBMModel(booster, rounds)
    if refit_x is not None:
        model = fit_lgbm_fixed(refit_x, refit_y, recipe, seed, rounds, monotone)
    return model, p_val, rounds


def fit_lgbm_fixed(x, y, recipe: Recipe, seed: int, rounds: int,
                   monotone: list[int] | None = None) -> LGBMModel:
    booster = lgb.train(_lgb_params(recipe, seed, monotone), lgb.Dataset(x, label=y),
                        num_boost_round=rounds)
    return LGBMModel(booster, rounds)


# --- no-lab references -------------------------------------------------------------------------

def grade_features(grade: np.ndarray) -> np.ndarray:
    """One-hot of today's CRS grade (0..4): the grade-only comparison row (the no-lab reference
    proper, grade + day, is ``context.fit_reference``)."""
    g = np.clip(np.asarray(grade, dtype=int), 0, 4)
    return np.eye(5)[g]


def fit_grade_only(features_tr: np.ndarray, y_tr: np.ndarray, seed: int) -> LogisticRegression:
    clf = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    clf.fit(features_tr, y_tr)
    return clf


# --- TorchScript versions ----------------------------------------------------------------------

class LogisticModule(nn.Module):
    """The logistic regression as TorchScript: raw [B, n] -> logits [B, 2]."""

    def __init__(self, model: LogisticModel):
        super().__init__()
        t = model.transform
        self.register_buffer("mean", torch.as_tensor(t.mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(t.std, dtype=torch.float32))
        self.register_buffer("coef", torch.as_tensor(model.clf.coef_[0], dtype=torch.float32))
        self.register_buffer("intercept",
                             torch.as_tensor(float(model.clf.intercept_[0]), dtype=torch.float32))
        self.clip = CLIP_Z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.where(torch.isnan(x), torch.expm1(self.mean).unsqueeze(0).expand_as(x), x)
        z = (torch.log1p(torch.clamp(x, min=0.0)) - self.mean) / self.std
        z = torch.clamp(z, -self.clip, self.clip)
        s = z @ self.coef + self.intercept
        # logits (0, s): softmax index 1 = sigmoid(s), the model's probability
        return torch.stack([torch.zeros_like(s), s], dim=1)


class TreeEnsembleModule(nn.Module):
    """A LightGBM binary booster as TorchScript: raw [B, n] -> logits (0, raw score).

    Every tree is flattened into node arrays (split feature, threshold, left, right, leaf value;
    a leaf points to itself), and all trees are walked together for ``depth`` steps. Numerical
    splits only ("x <= threshold" goes left), compared in float64 as LightGBM does; a NaN input is
    replaced by the training median first (the site imputes medians before calling anyway).
    """

    def __init__(self, model: LGBMModel, medians: np.ndarray):
        super().__init__()
        dump = model.booster.dump_model(num_iteration=model.rounds)
        trees = dump["tree_info"][: model.rounds]
        flat = [self._flatten(t["tree_structure"]) for t in trees]
        width = max(len(f[0]) for f in flat)
        t = len(flat)
        feature = np.zeros((t, width), dtype=np.int64)
        threshold = np.zeros((t, width), dtype=np.float64)
        left = np.zeros((t, width), dtype=np.int64)
        right = np.zeros((t, width), dtype=np.int64)
        value = np.zeros((t, width), dtype=np.float64)
        depth = 1
        for i, (feat, thr, lft, rgt, val, d) in enumerate(flat):
            k = len(feat)
            feature[i, :k], threshold[i, :k], left[i, :k], right[i, :k], value[i, :k] = \
                feat, thr, lft, rgt, val
            left[i, k:] = right[i, k:] = np.arange(k, width)  # padding: self loops
            depth = max(depth, d)
        self.register_buffer("feature", torch.as_tensor(feature))
        self.register_buffer("threshold", torch.as_tensor(threshold))
        self.register_buffer("left", torch.as_tensor(left))
        self.register_buffer("right", torch.as_tensor(right))
        self.register_buffer("value", torch.as_tensor(value))
        self.register_buffer("medians", torch.as_tensor(np.asarray(medians, dtype=np.float32)))
        self.depth = int(depth)

    @staticmethod
    def _flatten(root: dict):
        feat, thr, lft, rgt, val = [], [], [], [], []
        max_depth = 0

        def visit(node, d):
            nonlocal max_depth
            idx = len(feat)
            feat.append(0), thr.append(0.0), lft.append(idx), rgt.append(idx), val.append(0.0)
            if "leaf_value" in node and "split_feature" not in node:
                val[idx] = float(node["leaf_value"])
                max_depth = max(max_depth, d)
                return idx
            if node.get("decision_type", "<=") != "<=":
                raise ValueError("only numerical '<=' splits can be exported")
            feat[idx] = int(node["split_feature"])
            thr[idx] = float(node["threshold"])
            lft[idx] = visit(node["left_child"], d + 1)
            rgt[idx] = visit(node["right_child"], d + 1)
            return idx

        visit(root, 0)
        return feat, thr, lft, rgt, val, max_depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = tree_score(x, self.medians, self.feature, self.threshold, self.left, self.right,
                           self.value, self.depth)
        return torch.stack([torch.zeros_like(score), score], dim=1)


def tree_score(x: torch.Tensor, medians: torch.Tensor, feature: torch.Tensor,
               threshold: torch.Tensor, left: torch.Tensor, right: torch.Tensor,
               value: torch.Tensor, depth: int) -> torch.Tensor:
    """The raw score of flattened trees (``TreeEnsembleModule``); a plain function so another
    module can inline it into its own single TorchScript graph."""
    x = torch.where(torch.isnan(x), medians.unsqueeze(0).expand_as(x), x).double()
    b = x.shape[0]
    t = feature.shape[0]
    node = torch.zeros(b, t, dtype=torch.long, device=x.device)
    tree = torch.arange(t, device=x.device).unsqueeze(0).expand(b, t)
    for _ in range(depth):
        feat = feature[tree, node]
        xv = torch.gather(x, 1, feat)
        go_left = xv <= threshold[tree, node]
        node = torch.where(go_left, left[tree, node], right[tree, node])
    return value[tree, node].sum(dim=1).float()
