"""Patient-level cross-validation of the context models (labs + today's CRS grade + day) and of
the no-lab reference, on exactly the folds, inner-validation patients and rows of the labs-only
evaluation (``evaluate.evaluate_slot``), so every figure is comparable row for row.

Families (all choices on inner-validation patients only):
- ``ctx_lr``: logistic regression on labs + context (C from ``recipe.ctx_lr_grid``);
- ``ctx_lgbm``: LightGBM on the raw [labs, grade, day] vector (rounds by early stopping);
- ``ctx_stack``: the reference's logit as an offset + an L2-penalised lab effect (penalty from
  ``recipe.stack_lambdas``; inf = the reference itself);
- ``ctx_net``: the PrCRS network with grade and day appended as two more input positions
  (early stopping); evaluated for comparison, not shipped (see ``CTX_SHIPPABLE``);
- ``ctx_ens``: equal-weight mean of ``ctx_stack`` and ``ctx_lgbm`` (weights fixed, not tuned);
- ``reference``: grade + day, no lab (logistic regression, C = 1).
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from predictor.training import baselines as bl
from predictor.training import context as cx
from predictor.training.data import HorizonRows
from predictor.training.evaluate import best_family, nested_global_selection, safe_auroc
from predictor.training.fit import predict_proba, train_network
from predictor.training.folds import fold_vector, outer_fold_masks
from predictor.training.recipe import Recipe

CTX_FAMILIES = ("ctx_lr", "ctx_lgbm", "ctx_stack", "ctx_net", "ctx_ens")
CTX_ENSEMBLES = {"ctx_ens": ("ctx_stack", "ctx_lgbm")}
# Fixed before any figure was seen: the shipped context family must be a small module (linear or
# tree), because 39 files have to fit one gunicorn worker under 400 MiB; the network is measured
# beside them for comparison only.
CTX_SHIPPABLE = ("ctx_lr", "ctx_lgbm", "ctx_stack", "ctx_ens")
CTX_FAMILY_NAMES = {
    "ctx_lr": "Logistic regression on labs + CRS grade + day",
    "ctx_lgbm": "LightGBM on labs + CRS grade + day",
    "ctx_stack": ("Stacked: no-lab reference logit as offset + L2-penalised lab effect "
                  "(penalty chosen on inner validation)"),
    "ctx_net": "PrCRS net with CRS grade and day as two more inputs (no pre-training)",
    "ctx_ens": "Ensemble: stacked + LightGBM on labs + context (1/2 each)",
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
        m, val_pred["ctx_lr"], C = cx.fit_context_lr(xtr, ytr, xv, yv, recipe.ctx_lr_grid, fseed,
                                                     x[~test], y[~test])
        chosen["ctx_lr_C"].append(C)
        test_pred["ctx_lr"] = m.predict_proba(xte)
        m, val_pred["ctx_stack"], lam = cx.fit_stacked(xtr, ytr, xv, yv, recipe.stack_lambdas,
                                                       fseed, x[~test], y[~test])
        chosen["ctx_stack_lambda"].append(lam)
        test_pred["ctx_stack"] = m.predict_proba(xte)
        g, val_pred["ctx_lgbm"], rounds = bl.fit_lgbm(xtr, ytr, xv, yv, recipe, fseed,
                                                      x[~test], y[~test],
                                                      cx.grade_monotone(x.shape[1] - 2))
        chosen["ctx_lgbm_rounds"].append(rounds)
        test_pred["ctx_lgbm"] = g.predict_proba(xte)
        if "ctx_net" in families:
            res = train_network(xtr, ytr, xv, yv, recipe, fseed, device=device)
            chosen["ctx_net_epochs"].append(res.best_epoch)
            val_pred["ctx_net"] = predict_proba(res.model, xv, device)
            test_pred["ctx_net"] = predict_proba(res.model, xte, device)
        for ens, members in CTX_ENSEMBLES.items():
            val_pred[ens] = np.mean([val_pred[mm] for mm in members], axis=0)
            test_pred[ens] = np.mean([test_pred[mm] for mm in members], axis=0)
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


def labs_add_information(summary: dict, family: str) -> bool:
    """The criterion fixed in advance, on the family that SHIPS in this slot (the figures of
    the file the site serves): the labs add information when its out-of-fold predictions beat
    the no-lab reference on the same rows and folds in AUROC (higher) AND Brier (lower).
    Otherwise the file says so, and the site shows the no-lab reference's probability."""
    a, r = summary["all"][family], summary["all"]["reference"]
    return bool(a["auroc"] > r["auroc"] and a["brier"] < r["brier"])
