"""Metrics and the cross-validation drivers.

Patient-level protocol, per (horizon, combination) slot: 5 outer folds of patients (stratified by
ever-severe); inside each outer training set, C (logistic regression) and rounds (LightGBM) are
chosen by inner 5-fold CV over its patients (``inner_cv``), and 20 % of the patients
(stratified) are inner validation, used for early stopping (network) and for choosing among
model families (nested selection). The outer-fold patients are scored once, by models that never
saw them (out-of-fold, OOF).

For the figures of fold f, the calibration baseline (spec section 5) and the
sensitivity/specificity threshold (Youden's J on raw probability) are built from the OOF
predictions of the OTHER folds only; AUROC/AUPRC use the raw probability, Brier and ECE the
actual probability after the baseline conversion (``brier_raw`` is given too). Metrics are pooled
over the five folds' OOF predictions.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from predictor.catalogue import REFERENCE_COMBINATION
from predictor.training import baselines as bl
from predictor.training import context as cx
from predictor.training.calibration import actual_probabilities
from predictor.training.data import HorizonRows
from predictor.training.fit import predict_proba, train_network
from predictor.training.inner_cv import (choose_by_inner_cv, inner_folds,
                                         lgbm_rounds_by_inner_cv)
from predictor.training.folds import fold_vector, outer_fold_masks, row_folds, row_inner_validation
from predictor.training.recipe import Recipe

NETWORK_FAMILIES = ("net_pre", "net")
FAMILIES = ("net_pre", "net", "ens_pre", "ens", "ens3", "lr", "lgbm", "ens_trees",
            "ens_trees_logit")
# ensembles: equal-weight means of the members' probabilities (weights fixed, not tuned);
# ens3 uses the pre-trained network when there is one, else the network without pre-training
ENSEMBLES = {"ens_pre": ("net_pre", "lr"), "ens": ("net", "lr"), "ens3": ("net_pre", "lr", "lgbm"),
             "ens_trees": ("lr", "lgbm"), "ens_trees_logit": ("lr", "lgbm")}
# ... except these, the mean of the members' log-odds: a mean of probabilities pulls a confident
# member toward the other, which makes the ensemble under-confident (slopes above 1)
LOGIT_MEAN = frozenset({"ens_trees_logit", "ctx_ens_logit"})  # labs only and with context
REFERENCES = ("grade", "grade_day")
# What may ship is bounded by the serving budget, as for the context slots: a gunicorn worker
# under 400 MiB with all 39 files loaded, and 800 predictions/s on 2 cores. Measured with the
# network in the labs-only files: 403-423 MiB per worker (its warm-up alone adds ~68 MiB) and
# ~0.7 ms of the ~1.3 ms a prediction costs in the worker, ~350 predictions/s under wrk. So the
# network families are evaluated and reported beside the others, and not shipped.
USES_NETWORK = ("net_pre", "net", "ens_pre", "ens", "ens3")
SHIPPABLE = tuple(f for f in FAMILIES if f not in USES_NETWORK)
FAMILY_NAMES = {
    "net_pre": "PrCRS net, COVID-19 pre-trained + fine-tuned",
    "net": "PrCRS net, no pre-training",
    "ens_pre": "Ensemble: pre-trained PrCRS net + logistic regression (0.5/0.5)",
    "ens": "Ensemble: PrCRS net (no pre-training) + logistic regression (0.5/0.5)",
    "ens3": "Ensemble: pre-trained PrCRS net + logistic regression + LightGBM (1/3 each)",
    "lr": "Logistic regression (log1p + standardised)",
    "lgbm": "LightGBM",
    "ens_trees": "Ensemble: logistic regression + LightGBM (0.5/0.5)",
    "ens_trees_logit": "Ensemble: logistic regression + LightGBM (mean of the log-odds)",
    "grade": "No lab: today's CRS grade (logistic regression)",
    "grade_day": "No lab: today's CRS grade + day since infusion (logistic regression)",
    "selected": "Nested per-slot selection (family chosen per slot on inner validation, per fold)",
    "selected_global": ("Nested global selection (one family for all slots, chosen per fold on "
                        "the mean inner-validation AUROC over the slots): the shipping rule"),
}


def safe_auroc(y, p) -> float:
    return float(roc_auc_score(y, p)) if 0 < np.sum(y) < len(y) else float("nan")


def safe_auprc(y, p) -> float:
    return float(average_precision_score(y, p)) if np.sum(y) > 0 else float("nan")


def ece(y, p, bins: int = 10) -> float:
    """Expected calibration error, equal-width bins on [0, 1]."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.sum() * abs(p[m].mean() - y[m].mean())
    return float(total / max(len(y), 1))


def youden_threshold(y, p) -> float:
    """Raw-probability threshold maximising sensitivity + specificity - 1 (ties: higher)."""
    y, p = np.asarray(y), np.asarray(p)
    if y.sum() == 0 or y.sum() == len(y):
        return 0.5
    best_t, best_j = 0.5, -np.inf
    for t in np.unique(p):
        pred = p >= t
        j = pred[y == 1].mean() + (~pred[y == 0]).mean() - 1
        if j >= best_j:
            best_t, best_j = float(t), j
    return best_t


def probability_mean(members) -> np.ndarray:
    """The equal-weight mean of the members' probabilities."""
    return np.mean(members, axis=0)


def logit_mean(members) -> np.ndarray:
    """The probability of the equal-weight mean of the members' log-odds (each probability kept
    inside [1e-7, 1 - 1e-7], as the exported module does)."""
    p = np.clip(np.asarray(members, dtype=np.float64), 1e-7, 1 - 1e-7)
    return 1.0 / (1.0 + np.exp(-np.mean(np.log(p) - np.log1p(-p), axis=0)))


def binary_metrics(y, raw, actual=None, threshold=None) -> dict:
    y, raw = np.asarray(y), np.asarray(raw, float)
    out = {"auroc": safe_auroc(y, raw), "auprc": safe_auprc(y, raw),
           "brier_raw": float(np.mean((raw - y) ** 2)), "n": int(len(y)), "severe": int(y.sum())}
    if actual is not None:
        out["brier"] = float(np.mean((actual - y) ** 2))
        out["ece"] = ece(y, actual)
    if threshold is not None:
        pred = raw >= threshold
        out["threshold"] = float(threshold)
        out["sensitivity"] = float(pred[y == 1].mean()) if y.sum() else float("nan")
        out["specificity"] = float((~pred[y == 0]).mean()) if (y == 0).any() else float("nan")
    return out


def calibrated_oof(y: np.ndarray, raw: np.ndarray, fold: np.ndarray, method: str = "windows",
                   params: dict | None = None):
    """Per outer fold: baseline + threshold from the other folds' OOF -> actual probs, thresholds
    (``method``: the calibration map, the paper's windows unless told otherwise)."""
    actual = np.zeros_like(raw)
    thresholds = np.zeros_like(raw)
    for f in np.unique(fold):
        test, train = fold == f, fold != f
        actual[test] = actual_probabilities(raw[train], y[train], raw[test], method, params)
        thresholds[test] = youden_threshold(y[train], raw[train])
    return actual, thresholds


def patient_metrics(y, raw, fold, subset=None, method: str = "windows",
                    params: dict | None = None) -> dict:
    """The patient-level figures of one family (optionally on a subset of rows, e.g. new onset;
    baselines and thresholds always come from all rows of the other folds)."""
    actual, thresholds = calibrated_oof(y, raw, fold, method, params)
    m = np.ones(len(y), bool) if subset is None else subset
    out = binary_metrics(y[m], raw[m], actual[m])
    pred = raw[m] >= thresholds[m]
    ym = y[m]
    out["threshold"] = float(np.median(thresholds[m])) if m.any() else float("nan")
    out["sensitivity"] = float(pred[ym == 1].mean()) if ym.sum() else float("nan")
    out["specificity"] = float((~pred[ym == 0]).mean()) if (ym == 0).any() else float("nan")
    return out


def evaluate_slot(rows: HorizonRows, code: str, fold_of: dict[int, int], ever_of: dict[int, bool],
                  recipe: Recipe, seed: int, pretrained: dict | None, *, device: str = "cpu",
                  row_protocol: bool = True) -> dict:
    """Run the patient-level CV (all families + no-lab references) and, optionally, the row-level
    protocol for one slot. Returns OOF predictions and the choices made on inner validation."""
    x = rows.columns(code)
    y = rows.y
    fold = fold_vector(rows.patient, fold_of)
    k = recipe.outer_folds
    oof = {f: np.full(len(y), np.nan) for f in FAMILIES + REFERENCES}
    val_auroc = {f: [] for f in FAMILIES}
    chosen = {"net_pre_epochs": [], "net_epochs": [], "lr_C": [], "lgbm_rounds": [],
              "selected": []}
    selected_oof = np.full(len(y), np.nan)
    for f in range(k):
        fseed = seed + 17 * f
        test, is_val, is_tr = outer_fold_masks(rows.patient, fold, f, ever_of,
                                               val_fraction=recipe.inner_val_fraction,
                                               seed=fseed)
        xtr, ytr, xv, yv, xte = x[is_tr], y[is_tr], x[is_val], y[is_val], x[test]
        val_pred, test_pred = {}, {}
        for fam, state in (("net_pre", pretrained), ("net", None)):
            if (fam == "net_pre" and state is None) or not recipe.labs_network:
                continue
            res = train_network(xtr, ytr, xv, yv, recipe, fseed, pretrained=state, device=device)
            chosen[f"{fam}_epochs"].append(res.best_epoch)
            val_pred[fam] = predict_proba(res.model, xv, device)
            test_pred[fam] = predict_proba(res.model, xte, device)
        # C and rounds by inner K-fold CV over the outer-training patients (inner_cv)
        inner = inner_folds(rows.patient[~test], ever_of, recipe.inner_folds, fseed)
        x_out, y_out, val_rows = x[~test], y[~test], is_val[~test]
        C, inner_oof = choose_by_inner_cv(bl.fit_logistic_fixed, recipe.lr_grid, x_out, y_out,
                                          inner, fseed)
        chosen["lr_C"].append(C)
        val_pred["lr"] = inner_oof[val_rows]
        test_pred["lr"] = bl.fit_logistic_fixed(x_out, y_out, C, fseed).predict_proba(xte)
        rounds, inner_oof = lgbm_rounds_by_inner_cv(
            x_out, y_out, inner, lambda a, b, c, d: bl.fit_lgbm(a, b, c, d, recipe, fseed)[0])
        chosen["lgbm_rounds"].append(rounds)
        val_pred["lgbm"] = inner_oof[val_rows]
        test_pred["lgbm"] = bl.fit_lgbm_fixed(x_out, y_out, recipe, fseed,
                                              rounds).predict_proba(xte)
        # ensembles (the LR/LightGBM validation predictions: the inner out-of-fold ones)
        for ens, members in ENSEMBLES.items():
            members = tuple("net" if m == "net_pre" and "net_pre" not in test_pred and
                            ens == "ens3" else m for m in members)
            if all(m in test_pred for m in members):
                combine = logit_mean if ens in LOGIT_MEAN else probability_mean
                val_pred[ens] = combine([val_pred[m] for m in members])
                test_pred[ens] = combine([test_pred[m] for m in members])
        for fam, p in test_pred.items():
            oof[fam][test] = p
            val_auroc[fam].append(safe_auroc(yv, val_pred[fam]))
        # nested selection: the family with the best inner-validation AUROC in this fold
        best = max((fam for fam in val_pred if fam in SHIPPABLE),
                   key=lambda fam: np.nan_to_num(val_auroc[fam][-1], nan=-1.0))
        chosen["selected"].append(best)
        selected_oof[test] = test_pred[best]
        # no-lab references (trained on all outer-training rows); grade + day is THE no-lab
        # reference (``predictor.no_lab_reference``), the same fit as the shipped c0 files
        feats = bl.grade_features(rows.grade_today)
        clf = bl.fit_grade_only(feats[~test], y[~test], fseed)
        oof["grade"][test] = clf.predict_proba(feats[test])[:, 1]
        xref = rows.context_columns(REFERENCE_COMBINATION)
        oof["grade_day"][test] = cx.fit_reference(xref[~test], y[~test], fseed) \
            .predict_proba(xref[test])
    oof = {fam: p for fam, p in oof.items() if not np.isnan(p).all()}
    oof["selected"] = selected_oof
    result = {"oof": oof, "fold": fold, "val_auroc": val_auroc, "chosen": chosen}
    if row_protocol:
        result["row"] = _row_protocol(x, y, recipe, seed, device,
                                      rows.horizon in recipe.row_protocol_network_horizons)
    return result


def _row_protocol(x, y, recipe: Recipe, seed: int, device, with_network: bool = True) -> dict:
    """The paper's protocol: random patient-day folds (a patient's days on both sides)."""
    fold = row_folds(y, recipe.outer_folds, seed)
    # compute budget: the row-level protocol runs the network without pre-training only
    oof = {f: np.full(len(y), np.nan) for f in ("net", "lr", "lgbm")}
    for f in range(recipe.outer_folds):
        fseed = seed + 17 * f + 5
        test = fold == f
        idx_train = np.flatnonzero(~test)
        val_mask = row_inner_validation(y[idx_train], recipe.inner_val_fraction, fseed)
        tr, va = idx_train[~val_mask], idx_train[val_mask]
        if with_network:
            res = train_network(x[tr], y[tr], x[va], y[va], recipe, fseed, device=device)
            oof["net"][test] = predict_proba(res.model, x[test], device)
        m, _, _ = bl.fit_logistic(x[tr], y[tr], x[va], y[va], recipe, fseed, x[idx_train],
                                  y[idx_train])
        oof["lr"][test] = m.predict_proba(x[test])
        g, _, _ = bl.fit_lgbm(x[tr], y[tr], x[va], y[va], recipe, fseed, x[idx_train],
                              y[idx_train])
        oof["lgbm"][test] = g.predict_proba(x[test])
    return {fam: binary_metrics(y, p) for fam, p in oof.items() if not np.isnan(p).all()}


def best_family(summaries: dict[str, dict], families) -> str:
    """The shipping rule: ONE family for all slots, among ``families`` present in every slot, the
    one with the best mean patient-level AUROC over the slots (ties: lower mean Brier)."""
    fams = [f for f in families if all(f in s["all"] for s in summaries.values())]

    def score(fam):
        return (np.nanmean([s["all"][fam]["auroc"] for s in summaries.values()]),
                -np.nanmean([s["all"][fam]["brier"] for s in summaries.values()]))
    return max(fams, key=score)


def nested_global_selection(results: dict, k: int, *, families, key: str) -> list[str]:
    """The shipping rule applied inside every outer fold: the family (of ``families``) with the
    best mean inner-validation AUROC over all slots; its test predictions become ``oof[key]``,
    the honest estimate of the rule. Returns the family picked per fold."""
    fams = [f for f in families if all(f in r["val_auroc"] and len(r["val_auroc"][f]) == k
                                       for r in results.values())]
    picks = []
    for f in range(k):
        means = {fam: np.nanmean([r["val_auroc"][fam][f] for r in results.values()])
                 for fam in fams}
        picks.append(max(fams, key=lambda fam: np.nan_to_num(means[fam], nan=-1.0)))
    for r in results.values():
        sel = np.full(len(r["fold"]), np.nan)
        for f, fam in enumerate(picks):
            m = r["fold"] == f
            sel[m] = r["oof"][fam][m]
        r["oof"][key] = sel
    return picks


def summarise_slot(rows: HorizonRows, result: dict) -> dict:
    """Patient-level metrics for every family, on all rows and on the new-onset subset."""
    y, fold = rows.y, result["fold"]
    new_onset = rows.grade_today < 3
    out = {"all": {}, "new_onset": {}}
    for fam, raw in result["oof"].items():
        out["all"][fam] = patient_metrics(y, raw, fold)
        out["new_onset"][fam] = patient_metrics(y, raw, fold, subset=new_onset)
    if "row" in result:
        out["row_level"] = result["row"]
    return out
