"""Is a model that takes whatever labs are present better than the no-lab reference?

Issue 16 item 1: a physician often has CRS grade, day and a few loose labs (IL-6, CRP, ferritin)
that complete no panel. The site then answers with the no-lab reference (grade + day). This module
measures, on the SAME patient-level folds as every other figure (``folds.patient_folds``), whether
a LightGBM model on [42 labs with missing values, grade, day] does better on such rows:

- missing values are left as NaN, so LightGBM routes them natively (no imputation);
- training rows are copied ``copies`` times, each copy with its own random "loose labs" mask
  (``loose_lab_mask``), so the model learns from the missingness it will meet;
- monotone increasing in today's CRS grade (``monotone_constraints``), like the reference;
- rounds by early stopping on inner-validation patients (``folds.outer_fold_masks``);
- the test rows of each fold get the same kind of mask (a fixed seed), the reference sees the
  same rows, and both are calibrated out of fold the way every served probability is
  (``evaluate.patient_metrics``: baseline from the other folds).

Shipping rule (fixed before any figure was seen): ship only if the model beats the reference on
BOTH new-onset AUPRC (higher) and new-onset Brier (lower) at every horizon.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

from predictor.catalogue import FACTOR_KEYS, panel_factor_keys
from predictor.training import context as cx
from predictor.training.data import SEVERE_GRADE, HorizonRows, UNUSED_FACTOR_KEYS
from predictor.training.evaluate import patient_metrics
from predictor.training.folds import fold_vector, outer_fold_masks
from predictor.training.recipe import Recipe

# Labs a CAR-T team orders every day or two (markers of inflammation, blood count, organ
# function): kept more often by the mask than the rest. A judgement about practice, stated here
# because the published sheet itself has no missing value (its gaps were filled by CRS grade).
COMMON_LABS: tuple[str, ...] = ("crp", "ferritin", "il6", "il10", "ifn_gamma", "wbc",
                                "platelets", "hemoglobin", "neutrophil_count", "ldh",
                                "creatinine", "alt", "ast", "fibrinogen", "d_dimer")
# Panels that alone make a combination usable: a loose-labs row must complete none of them.
COMPLETING_PANELS: tuple[int, ...] = (2, 3, 4)
COMMON_WEIGHT = 2.5


@dataclass(frozen=True)
class AnyLabsOptions:
    copies: int = 4          # masked copies of each training row
    min_keep: float = 0.05   # per-row keep probability drawn uniformly in [min_keep, max_keep]
    max_keep: float = 0.35
    seed: int = 20240101


# How many labs a physician has in hand varies; the model must win in both cases to ship.
SCENARIOS: dict[str, dict] = {
    "about 4 labs": {"min_keep": 0.02, "max_keep": 0.12},
    "about 12 labs": {"min_keep": 0.05, "max_keep": 0.35},
}


def loose_lab_mask(n: int, rng: np.random.Generator, options: AnyLabsOptions) -> np.ndarray:
    """[n, 42] bool: True = the value is present. Each row keeps each lab with its own
    probability (common labs more often), at least one lab, and never a complete panel 2, 3 or
    4 (one of its values is dropped at random): the rows where no combination is usable."""
    keep_p = rng.uniform(options.min_keep, options.max_keep, size=(n, 1))
    weight = np.array([COMMON_WEIGHT if k in COMMON_LABS else 1.0 for k in FACTOR_KEYS])
    mask = rng.random((n, len(FACTOR_KEYS))) < np.clip(keep_p * weight, 0, 0.95)
    for panel in COMPLETING_PANELS:
        idx = np.array([FACTOR_KEYS.index(k) for k in panel_factor_keys(panel)])
        complete = mask[:, idx].all(axis=1)
        drop = idx[rng.integers(0, len(idx), size=int(complete.sum()))]
        mask[np.flatnonzero(complete), drop] = False
    empty = ~mask.any(axis=1)
    mask[np.flatnonzero(empty), rng.integers(0, len(FACTOR_KEYS), size=int(empty.sum()))] = True
    for key in UNUSED_FACTOR_KEYS:  # never a model input (see data.UNUSED_FACTOR_KEYS)
        mask[:, FACTOR_KEYS.index(key)] = False
    return mask


def features(rows: HorizonRows, mask: np.ndarray) -> np.ndarray:
    """[labs with NaN where masked, grade, day]."""
    labs = np.where(mask, rows.x, np.nan)
    return np.hstack([labs, rows.grade_today[:, None].astype(float),
                      rows.day[:, None].astype(float)])


def _params(recipe: Recipe, seed: int) -> dict:
    params = dict(recipe.lgbm_params)
    params["seed"] = seed
    params["num_threads"] = params.pop("n_jobs", 1)
    params["use_missing"] = True
    params["zero_as_missing"] = False
    params["monotone_constraints"] = [0] * len(FACTOR_KEYS) + [1, 0]  # increasing in grade
    params["monotone_constraints_method"] = "advanced"
    return params


def _masked_copies(rows: HorizonRows, options: AnyLabsOptions, rng
                   ) -> tuple[np.ndarray, np.ndarray]:
    x = np.vstack([features(rows, loose_lab_mask(len(rows), rng, options))
                   for _ in range(options.copies)])
    return x, np.tile(rows.y, options.copies)


def fit_any_labs(train: HorizonRows, val: HorizonRows, recipe: Recipe, seed: int,
                 options: AnyLabsOptions) -> lgb.Booster:
    """Rounds by early stopping on the masked inner-validation patients, then refit on
    training + validation with those rounds."""
    rng = np.random.default_rng(seed)
    x_tr, y_tr = _masked_copies(train, options, rng)
    x_val, y_val = _masked_copies(val, options, rng)
    params = _params(recipe, seed)
    dtr = lgb.Dataset(x_tr, label=y_tr, free_raw_data=False)
    booster = lgb.train(params, dtr, num_boost_round=recipe.lgbm_max_rounds,
                        valid_sets=[lgb.Dataset(x_val, label=y_val, reference=dtr)],
                        callbacks=[lgb.early_stopping(20, verbose=False)])
    rounds = max(1, booster.best_iteration or recipe.lgbm_max_rounds)
    x_all, y_all = np.vstack([x_tr, x_val]), np.concatenate([y_tr, y_val])
    return lgb.train(params, lgb.Dataset(x_all, label=y_all), num_boost_round=rounds)


def evaluate_any_labs(rows: HorizonRows, fold_of: dict[int, int], ever_of: dict[int, bool],
                      recipe: Recipe, options: AnyLabsOptions = AnyLabsOptions()) -> dict:
    """Out-of-fold figures of the any-labs model and of the no-lab reference on the same
    masked rows, all rows and new onset (grade < 3 today)."""
    fold = fold_vector(rows.patient, fold_of)
    test_mask = loose_lab_mask(len(rows), np.random.default_rng(options.seed + 1), options)
    x_test = features(rows, test_mask)
    oof_any = np.full(len(rows), np.nan)
    oof_ref = np.full(len(rows), np.nan)
    xctx = rows.context_columns("0")
    for f in np.unique(fold):
        seed = options.seed + 17 * int(f)
        test, is_val, is_train = outer_fold_masks(rows.patient, fold, int(f), ever_of,
                                                  val_fraction=recipe.inner_val_fraction,
                                                  seed=seed)
        booster = fit_any_labs(rows.subset(is_train), rows.subset(is_val), recipe, seed, options)
        oof_any[test] = booster.predict(x_test[test])
        oof_ref[test] = cx.fit_reference(xctx[~test], rows.y[~test], seed) \
            .predict_proba(xctx[test])
    new_onset = rows.grade_today < SEVERE_GRADE
    out = {"n": int(len(rows)), "severe": int(rows.y.sum()),
           "mean_labs_present": float(test_mask.sum(axis=1).mean())}
    for name, oof in (("any_labs", oof_any), ("reference", oof_ref)):
        out[name] = {"all": patient_metrics(rows.y, oof, fold),
                     "new_onset": patient_metrics(rows.y, oof, fold, new_onset)}
    return out


def beats_reference(result: dict) -> bool:
    """The shipping rule for one horizon: better new-onset AUPRC AND better new-onset Brier."""
    mine, ref = result["any_labs"]["new_onset"], result["reference"]["new_onset"]
    return mine["auprc"] > ref["auprc"] and mine["brier"] < ref["brier"]


def should_ship(results_by_scenario: dict[str, dict[int, dict]]) -> bool:
    """Ship only when the model beats the reference at every horizon in every scenario."""
    return all(beats_reference(r) for results in results_by_scenario.values()
               for r in results.values())


def any_labs_report(results: dict[int, dict], title: str = "") -> str:
    """A plain-text table of the comparison, one line per horizon and subset."""
    lines = ["Any labs (LightGBM, NaN for absent labs, loose-lab masks, monotone in grade) vs "
             f"no-lab reference, patient-level CV, same masked rows{': ' + title if title else ''}",
             f"{'h':>2} {'subset':<9} {'model':<10} {'AUROC':>6} {'AUPRC':>6} {'Brier':>7} "
             f"{'n':>5} {'sev':>4}"]
    for h, result in sorted(results.items()):
        for subset in ("all", "new_onset"):
            for name in ("any_labs", "reference"):
                m = result[name][subset]
                lines.append(f"{h:>2} {subset:<9} {name:<10} {m['auroc']:6.3f} {m['auprc']:6.3f} "
                             f"{m['brier']:7.4f} {m['n']:>5} {m['severe']:>4}")
        lines.append(f"   mean labs present per row {result['mean_labs_present']:.1f}; beats the "
                     f"reference on new-onset AUPRC and Brier: {beats_reference(result)}")
    return "\n".join(lines)
