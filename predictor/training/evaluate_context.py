"""Patient-level cross-validation of the context models (labs + today's CRS grade + day) and of
the no-lab reference, on exactly the folds, inner-validation patients and rows of the labs-only
evaluation (``evaluate.evaluate_slot``), so every figure is comparable row for row.

Families (every setting by inner K-fold CV over the outer-training patients,
``predictor.training.inner_cv``; the network by early stopping on inner-validation patients):
- ``ctx_lr``: logistic regression on labs + context (C from ``recipe.ctx_lr_grid``);
- ``ctx_lgbm``: LightGBM on the raw [labs, grade, day] vector (rounds by early stopping);
- ``ctx_stack``: the reference's logit as an offset + an L2-penalised lab effect (penalty from
  ``recipe.stack_lambdas``; inf = the reference itself);
- ``ctx_net``: the PrCRS network with grade and day appended as two more input positions
  (early stopping); evaluated for comparison, not shipped (see ``CTX_SHIPPABLE``);
- ``ctx_ens``: equal-weight mean of ``ctx_stack`` and ``ctx_lgbm`` (weights fixed, not tuned);
- ``ctx_ens_logit``: the same two, the mean of their log-odds;
- ``reference``: grade + day, no lab (logistic regression, C = 1).
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from predictor.training import baselines as bl
from predictor.training import context as cx
from predictor.training.data import HorizonRows
from predictor.training.evaluate import (LOGIT_MEAN, best_family, logit_mean,
                                         nested_global_selection, probability_mean, safe_auroc)
from predictor.training.fit import predict_proba, train_network
from predictor.training.folds import fold_vector, outer_fold_masks
from predictor.training.inner_cv import (choose_by_inner_cv, inner_folds,
                                         lgbm_rounds_by_inner_cv)
from predictor.training.recipe import Recipe

CTX_FAMILIES = ("ctx_lr", "ctx_lgbm", "ctx_stack", "ctx_net", "ctx_ens", "ctx_ens_logit")
CTX_ENSEMBLES = {"ctx_ens": ("ctx_stack", "ctx_lgbm"), "ctx_ens_logit": ("ctx_stack", "ctx_lgbm")}
# Fixed before any figure was seen: the shipped context family must be a small module (linear or
# tree), because 39 files have to fit one gunicorn worker under 400 MiB; the network is measured
# beside them for comparison only.
CTX_SHIPPABLE = ("ctx_lr", "ctx_lgbm", "ctx_stack", "ctx_ens", "ctx_ens_logit")
CTX_FAMILY_NAMES = {
    "ctx_lr": "Logistic regression on labs + CRS grade + day",
    "ctx_lgbm": "LightGBM on labs + CRS grade + day",
    "ctx_stack": ("Stacked: no-lab reference logit as offset + L2-penalised lab effect "
                  "(penalty chosen by inner cross-validation)"),
    "ctx_net": "PrCRS net with CRS grade and day as two more inputs (no pre-training)",
    "ctx_ens": "Ensemble: stacked + LightGBM on labs + context (1/2 each)",
    "ctx_ens_logit": "Ensemble: stacked + LightGBM on labs + context (mean of the log-odds)",
    "reference": "No lab: today's CRS grade + day since infusion (monotone logistic regression, "
                 "predictor/no_lab_reference.py)",
    "plain_lr": "Plain logistic regression on grade + day (two numbers, sklearn defaults)",
    "ctx_selected_global": ("Nested global selection among the shippable context families "
                            "(chosen per fold on the mean inner-validation AUROC over the "
                            "slots): the shipping rule"),
}


def evaluate_reference(rows: HorizonRows, fold_of: dict[int, int], seed: int) -> dict:
    """Out-of-fold predictions of the no-lab reference (combination "0") for one horizon, and
    of the plain logistic regression on grade + day (``plain_lr``: sklearn's defaults on the two
    numbers; its own probability is the bar issue 15 sets for the served Brier)."""
    xctx = rows.context_columns("0")
    fold = fold_vector(rows.patient, fold_of)
    oof = {"reference": np.full(len(rows), np.nan), "plain_lr": np.full(len(rows), np.nan)}
    for f in np.unique(fold):
        test = fold == f
        oof["reference"][test] = cx.fit_reference(xctx[~test], rows.y[~test],
                                                  seed + 17 * int(f)).predict_proba(xctx[test])
        plain = LogisticRegression(max_iter=2000).fit(xctx[~test], rows.y[~test])
        oof["plain_lr"][test] = plain.predict_proba(xctx[test])[:, 1]
    return {"oof": oof, "fold": fold}


def evaluate_context_slot(rows: HorizonRows, code: str, fold_of: dict[int, int],
                          ever_of: dict[int, bool], recipe: Recipe, seed: int, *,
                          device: str = "cpu") -> dict:
    """Patient-level CV of every context family for one (horizon, combination)."""
    x = rows.context_columns(code)
    y = rows.y
    fold = fold_vector(rows.patient, fold_of)
    k = recipe.outer_folds
    families = CTX_FAMILIES if recipe.ctx_network else tuple(f for f in CTX_FAMILIES
                                                             if f != "ctx_net")
    oof = {f: np.full(len(y), np.nan) for f in families + ("reference",)}
    val_auroc = {f: [] for f in families}
    chosen = {"ctx_lr_C": [], "ctx_lgbm_rounds": [], "ctx_stack_lambda": [],
              "ctx_net_epochs": []}
    for f in range(k):
        fseed = seed + 17 * f
        test, is_val, is_tr = outer_fold_masks(rows.patient, fold, f, ever_of,
                                               val_fraction=recipe.inner_val_fraction,
                                               seed=fseed)
        xtr, ytr, xv, yv, xte = x[is_tr], y[is_tr], x[is_val], y[is_val], x[test]
        val_pred, test_pred = {}, {}
        # every setting by inner K-fold CV over the outer-training patients (inner_cv)
        inner = inner_folds(rows.patient[~test], ever_of, recipe.inner_folds, fseed)
        x_out, y_out, val_rows = x[~test], y[~test], is_val[~test]
        C, inner_oof = choose_by_inner_cv(cx.fit_context_lr_fixed, recipe.ctx_lr_grid, x_out,
                                          y_out, inner, fseed)
        chosen["ctx_lr_C"].append(C)
        val_pred["ctx_lr"] = inner_oof[val_rows]
        test_pred["ctx_lr"] = cx.fit_context_lr_fixed(x_out, y_out, C, fseed).predict_proba(xte)
        # from the strongest penalty (inf = the reference) down: ties keep the labs out
        lam, inner_oof = choose_by_inner_cv(cx.fit_stacked_fixed,
                                            sorted(recipe.stack_lambdas, reverse=True), x_out,
                                            y_out, inner, fseed)
        chosen["ctx_stack_lambda"].append(lam)
        val_pred["ctx_stack"] = inner_oof[val_rows]
        test_pred["ctx_stack"] = cx.fit_stacked_fixed(x_out, y_out, lam, fseed).predict_proba(xte)
        monotone = cx.grade_monotone(x.shape[1] - 2)
        rounds, inner_oof = lgbm_rounds_by_inner_cv(
            x_out, y_out, inner,
            lambda a, b, c, d: bl.fit_lgbm(a, b, c, d, recipe, fseed, monotone=monotone)[0])
        chosen["ctx_lgbm_rounds"].append(rounds)
        val_pred["ctx_lgbm"] = inner_oof[val_rows]
        test_pred["ctx_lgbm"] = bl.fit_lgbm_fixed(x_out, y_out, recipe, fseed, rounds,
                                                  monotone).predict_proba(xte)
        if "ctx_net" in families:
            res = train_network(xtr, ytr, xv, yv, recipe, fseed, device=device)
            chosen["ctx_net_epochs"].append(res.best_epoch)
            val_pred["ctx_net"] = predict_proba(res.model, xv, device)
            test_pred["ctx_net"] = predict_proba(res.model, xte, device)
        for ens, members in CTX_ENSEMBLES.items():
            combine = logit_mean if ens in LOGIT_MEAN else probability_mean
            val_pred[ens] = combine([val_pred[mm] for mm in members])
            test_pred[ens] = combine([test_pred[mm] for mm in members])
        for fam, p in test_pred.items():
            oof[fam][test] = p
            val_auroc[fam].append(safe_auroc(yv, val_pred[fam]))
        oof["reference"][test] = cx.fit_reference(x[~test], y[~test], fseed).predict_proba(xte)
    return {"oof": oof, "fold": fold, "val_auroc": val_auroc, "chosen": chosen}


def add_context_global_selection(results: dict, k: int) -> list[str]:
    """Nested global selection among ``CTX_SHIPPABLE``: ``oof["ctx_selected_global"]``."""
    return nested_global_selection(results, k, families=CTX_SHIPPABLE,
                                   key="ctx_selected_global")


def choose_context_family(summaries: dict[str, dict]) -> str:
    """The same rule as the labs-only models (``best_family``), among ``CTX_SHIPPABLE``."""
    return best_family(summaries, CTX_SHIPPABLE)
