"""Do trajectory features (change since the previous day and since day 0) improve the models?
Issue 9 item 7: evaluated with the patient-level CV of the shipped models; nothing is shipped.

    python bench/trajectory.py                 # the public sheets in ../shared/data/prcrs-public/
    python bench/trajectory.py --data DIR      # CAR-T.xlsx from another folder
    python bench/trajectory.py --workers 1 --bootstrap 500

Protocol (the shipped models' own, ``predictor.training.evaluate``): for every (horizon,
combination) slot, 5 outer folds of patients from ``folds.patient_folds`` with the pipeline's
seed (``pipeline.Options().seed``), stratified by ever-severe; per fold, the same slot seed
(``pipeline.slot_seed``), fold seed and inner-validation patients as ``evaluate_slot`` and
``evaluate_context_slot``; C (logistic regression) and rounds (LightGBM, early stopping) chosen
on the inner-validation patients only, then refitted on the outer-training patients. AUROC and
AUPRC on the raw out-of-fold probability; Brier and ECE on the actual probability after the
site's baseline conversion, the baseline built from the other folds' out-of-fold predictions
(``evaluate.patient_metrics``).

Variants, each with logistic regression (LR) and LightGBM (GBM):
  labs        today's lab values (the labs-only models)
  labs+traj   + trajectory features (``predictor.training.trajectory``)
  ctx         labs + today's CRS grade + day since infusion (the labs+context models)
  ctx+traj    + trajectory features
The trajectory variants also run LR-s: the logistic regression whose trajectory block has its own
penalty (the block scaled by s in {0.1, 0.3, 1} before the fit, i.e. an L2 penalty 100, 11 or 1
times the others'; s chosen with C on inner validation). Added after the first run showed that
one shared C for 80+ trajectory columns shrinks the CRS grade's weights too (see
docs/trajectory.md); it is compared with the same base LR.

Decision rule, fixed before the first run: a trajectory variant is recommended only if it beats
its base variant of the same model kind (labs+traj vs labs, ctx+traj vs ctx) on the mean over the
18 slots of AUROC (higher) AND of Brier (lower), on all rows, AND both differences are outside
the noise: the 95 % interval of a paired bootstrap by patient (the same resampled patients for
both variants and all slots) excludes 0 for both. A point-estimate win inside the noise is
reported as such and not recommended.

One process per worker, one thread each (LR + LightGBM only).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread per process: the cores are shared

import argparse  # noqa: E402
import multiprocessing as mp  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from predictor.catalogue import COMBINATION_CODES, HORIZONS  # noqa: E402
from predictor.training import baselines as bl  # noqa: E402
from predictor.training.data import CartCohort, horizon_rows, load_cart  # noqa: E402
from predictor.training.evaluate import calibrated_oof, patient_metrics, safe_auroc  # noqa: E402
from predictor.training.folds import (  # noqa: E402
    fold_vector,
    outer_fold_masks,
    patient_folds,
    patient_table,
)
from predictor.training.recipe import Recipe  # noqa: E402
from predictor.training.trajectory import fit_trajectory_lr, rows_trajectory  # noqa: E402

VARIANTS = ("labs", "labs+traj", "ctx", "ctx+traj")
MODELS = ("lr", "lrs", "lgbm")
MODEL_NAMES = {"lr": "LR", "lrs": "LR-s", "lgbm": "GBM"}
TRAJ_SCALES = (0.1, 0.3, 1.0)
# (variant, model) pairs that exist: LR-s only where there is a trajectory block to scale
KEYS = tuple((v, m) for v in VARIANTS for m in MODELS if m != "lrs" or v.endswith("traj"))
# (trajectory model, its base): same model kind, LR-s against the plain LR
COMPARISONS = tuple(((new, m), (base, "lr" if m == "lrs" else m))
                    for new, base in (("labs+traj", "labs"), ("ctx+traj", "ctx"))
                    for m in MODELS)
METRICS = ("auroc", "auprc", "brier", "ece")
_STATE: dict = {}  # shared with forked workers


def pipeline_seed() -> int:
    """The shipped pipeline's base seed (its ``Options``), so folds and seeds are the same."""
    from predictor.training.pipeline import Options
    return Options().seed


def slot_seed(seed: int, horizon: int, code: str) -> int:
    from predictor.training.pipeline import slot_seed as shipped_slot_seed
    return shipped_slot_seed(seed, horizon, code)


# --- cross-validation ------------------------------------------------------------------------

def evaluate_slot(cohort: CartCohort, horizon: int, code: str, fold_of: dict[int, int],
                  ever_of: dict[int, bool], recipe: Recipe, seed: int) -> dict:
    """Out-of-fold raw probabilities of the 4 variants x 2 models of one slot, and the C /
    rounds chosen per fold on inner validation."""
    rows = horizon_rows(cohort, horizon)
    y = rows.y
    labs = rows.columns(code)
    traj = rows_trajectory(cohort, rows, code=code)
    grade = rows.grade_today.astype(np.float64)
    day = rows.day.astype(np.float64)
    fold = fold_vector(rows.patient, fold_of)
    oof = {key: np.full(len(y), np.nan) for key in KEYS}
    chosen = {key: [] for key in KEYS}
    for f in range(recipe.outer_folds):
        fseed = seed + 17 * f
        test, is_val, is_tr = outer_fold_masks(rows.patient, fold, f, ever_of,
                                               val_fraction=recipe.inner_val_fraction,
                                               seed=fseed)
        for variant in VARIANTS:
            with_traj, with_ctx = variant.endswith("traj"), variant.startswith("ctx")

            def part(mask, labelled=True):
                d = {"labs": labs[mask]}
                if labelled:
                    d["y"] = y[mask]
                if with_traj:
                    d["traj"] = traj[mask]
                if with_ctx:
                    d["grade"], d["day"] = grade[mask], day[mask]
                return d

            grid = recipe.ctx_lr_grid if with_ctx else recipe.lr_grid
            model, _, C = fit_trajectory_lr(train=part(is_tr), val=part(is_val),
                                            refit=part(~test), grid=grid, seed=fseed)
            oof[(variant, "lr")][test] = model.predict_proba(**part(test, labelled=False))
            chosen[(variant, "lr")].append(C)
            if with_traj:
                model, _, pair = fit_trajectory_lr(train=part(is_tr), val=part(is_val),
                                                   refit=part(~test), grid=grid, seed=fseed,
                                                   scales=TRAJ_SCALES)
                oof[(variant, "lrs")][test] = model.predict_proba(**part(test, labelled=False))
                chosen[(variant, "lrs")].append(pair)
            # LightGBM: the shipped layout [labs, grade, day], trajectory columns appended
            x = labs
            if with_ctx:
                x = np.hstack([x, grade[:, None], day[:, None]])
            if with_traj:
                x = np.hstack([x, traj])
            g, _, rounds = bl.fit_lgbm(x[is_tr], y[is_tr], x[is_val], y[is_val], recipe, fseed,
                                       x[~test], y[~test])
            oof[(variant, "lgbm")][test] = g.predict_proba(x[test])
            chosen[(variant, "lgbm")].append(rounds)
    return {"oof": oof, "chosen": chosen, "fold": fold, "y": y, "patient": rows.patient,
            "new_onset": rows.grade_today < 3}


def _slot_task(slot):
    h, code = slot
    t = time.time()
    res = evaluate_slot(_STATE["cohort"], h, code, _STATE["fold_of"], _STATE["ever_of"],
                        _STATE["recipe"], slot_seed(_STATE["seed"], h, code))
    res["seconds"] = time.time() - t
    return slot, res


def run_cv(cohort: CartCohort, *, recipe: Recipe | None = None, seed: int | None = None,
           horizons=HORIZONS, combinations=COMBINATION_CODES, workers: int = 2) -> dict:
    """Every slot's out-of-fold predictions, keyed by (horizon, combination)."""
    recipe = recipe or Recipe()
    seed = pipeline_seed() if seed is None else seed
    ids, ever = patient_table(cohort.patient, cohort.grade)
    state = dict(cohort=cohort, recipe=recipe, seed=seed,
                 fold_of=patient_folds(cohort, recipe.outer_folds, seed),
                 ever_of={int(p): bool(e) for p, e in zip(ids, ever)})
    slots = [(h, c) for h in horizons for c in combinations]
    if workers <= 1 or len(slots) <= 1:
        _init_worker(state)
        done = [_slot_task(s) for s in slots]
    else:
        # spawn, not fork: a process that has already run LightGBM (OpenMP) can deadlock in a
        # forked child
        with mp.get_context("spawn").Pool(workers, initializer=_init_worker,
                                          initargs=(state,)) as pool:
            done = pool.map(_slot_task, slots, chunksize=1)
    return dict(done)


def _init_worker(state: dict) -> None:
    _STATE.clear()
    _STATE.update(state)


# --- figures ---------------------------------------------------------------------------------

def summarise(results: dict) -> dict:
    """Per slot and (variant, model): pooled OOF metrics on all rows and on new onset, the
    actual (calibrated) probabilities, and per-fold AUROC / Brier."""
    out = {}
    for slot, r in results.items():
        y, fold = r["y"], r["fold"]
        s = {"all": {}, "new_onset": {}, "actual": {}, "per_fold": {}}
        for key, raw in r["oof"].items():
            s["all"][key] = patient_metrics(y, raw, fold)
            s["new_onset"][key] = patient_metrics(y, raw, fold, subset=r["new_onset"])
            actual, _ = calibrated_oof(y, raw, fold)
            s["actual"][key] = actual
            s["per_fold"][key] = [(safe_auroc(y[fold == f], raw[fold == f]),
                                   float(np.mean((actual[fold == f] - y[fold == f]) ** 2)))
                                  for f in np.unique(fold)]
        out[slot] = s
    return out


def weighted_auroc(y: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUROC of one score under many row weightings at once (``weights`` [B, N]; ties count
    one half), as ``roc_auc_score(..., sample_weight=w)`` gives for each row of weights."""
    order = np.argsort(score, kind="mergesort")
    s, yy, w = score[order], y[order].astype(bool), weights[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    pos = np.add.reduceat(np.where(yy, w, 0.0), starts, axis=1)
    neg = np.add.reduceat(np.where(yy, 0.0, w), starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    num = np.sum(pos * (below + 0.5 * neg), axis=1)
    den = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def patient_bootstrap(results: dict, summary: dict, *, n: int = 1000, seed: int = 0) -> dict:
    """Paired bootstrap by patient of the mean-over-slots AUROC and Brier differences of each
    comparison and model kind: each resample draws patients with replacement (the same draw for
    every slot and both variants), a row weighs as many times as its patient was drawn. The
    baselines are not refitted (the out-of-fold actual probabilities are resampled)."""
    patients = np.unique(np.concatenate([r["patient"] for r in results.values()]))
    pos = {int(p): i for i, p in enumerate(patients)}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(patients), size=(n, len(patients)))
    counts = np.stack([np.bincount(d, minlength=len(patients)) for d in draws]).astype(float)
    diffs = {}
    for new, base in COMPARISONS:
        d_auc, d_brier = np.zeros(n), np.zeros(n)
        for slot, r in results.items():
            w = counts[:, [pos[int(p)] for p in r["patient"]]]
            y = r["y"]
            for sign, key in ((1.0, new), (-1.0, base)):
                d_auc += sign * weighted_auroc(y, r["oof"][key], w)
                a = summary[slot]["actual"][key]
                d_brier += sign * (w @ (a - y) ** 2) / w.sum(axis=1)
        diffs[(new, base)] = {"auroc": d_auc / len(results), "brier": d_brier / len(results)}
    return diffs


def mean_metric(summary: dict, key, subset: str, metric: str) -> float:
    return float(np.nanmean([s[subset][key][metric] for s in summary.values()]))


def compare(summary: dict, boot: dict) -> list[dict]:
    """The decision rule of the module docstring, per comparison and model kind."""
    out = []
    for new, base in COMPARISONS:
        d = {"new": new, "base": base}
        for metric in ("auroc", "brier"):
            d[metric] = (mean_metric(summary, new, "all", metric)
                         - mean_metric(summary, base, "all", metric))
            i = 0 if metric == "auroc" else 1
            d[f"{metric}_folds"] = np.nanmean(
                [[a[i] - b[i] for a, b in zip(s["per_fold"][new], s["per_fold"][base])]
                 for s in summary.values()], axis=0)
            lo, hi = np.nanpercentile(boot[(new, base)][metric], [2.5, 97.5])
            d[f"{metric}_ci"] = (float(lo), float(hi))
        d["new_onset_auprc"] = (mean_metric(summary, new, "new_onset", "auprc")
                                - mean_metric(summary, base, "new_onset", "auprc"))
        d["beats"] = bool(d["auroc"] > 0 and d["brier"] < 0)
        d["clear"] = bool(d["auroc_ci"][0] > 0 and d["brier_ci"][1] < 0)
        d["recommend"] = d["beats"] and d["clear"]
        out.append(d)
    return out


# --- printing --------------------------------------------------------------------------------

def _fmt(x: float) -> str:
    return "  nan" if x != x else f"{x:.3f}"


def slot_table(summary: dict, key) -> str:
    variant, m = key
    head = (f"{variant} / {MODEL_NAMES[m]}\n"
            f"{'slot':<9} | {'all rows: AUROC AUPRC Brier   ECE':<34} | "
            f"new onset (grade < 3): AUROC AUPRC Brier   ECE")
    lines = [head, "-" * len(head.splitlines()[1])]
    for (h, code), s in summary.items():
        a = " ".join(_fmt(s["all"][key][k]) for k in METRICS)
        b = " ".join(_fmt(s["new_onset"][key][k]) for k in METRICS)
        lines.append(f"h{h} {code:<6} | {'':<10}{a} | {'':<22}{b}")
    a = " ".join(_fmt(mean_metric(summary, key, "all", k)) for k in METRICS)
    b = " ".join(_fmt(mean_metric(summary, key, "new_onset", k)) for k in METRICS)
    lines.append(f"{'mean':<9} | {'':<10}{a} | {'':<22}{b}")
    return "\n".join(lines)


def mean_table(summary: dict) -> str:
    head = (f"{'variant / model':<16} | all: AUROC AUPRC Brier   ECE | "
            f"new onset: AUROC AUPRC Brier   ECE")
    lines = ["Means over the slots", head, "-" * len(head)]
    for v, m in KEYS:
        a = " ".join(_fmt(mean_metric(summary, (v, m), "all", k)) for k in METRICS)
        b = " ".join(_fmt(mean_metric(summary, (v, m), "new_onset", k)) for k in METRICS)
        lines.append(f"{v + ' / ' + MODEL_NAMES[m]:<16} |      {a} |           {b}")
    return "\n".join(lines)


def decision_table(rows: list[dict], n_boot: int) -> str:
    lines = [f"Decision (mean over the slots, all rows; paired patient bootstrap, {n_boot} "
             "resamples; per-fold = the 5 outer folds' mean-over-slots differences)"]
    for d in rows:
        fa, fb = d["auroc_folds"], d["brier_folds"]
        (nv, nm), (bv, bm) = d["new"], d["base"]
        lines.append(
            f"{nv} {MODEL_NAMES[nm]} vs {bv} {MODEL_NAMES[bm]}: "
            f"dAUROC {d['auroc']:+.4f} [95% {d['auroc_ci'][0]:+.4f}, {d['auroc_ci'][1]:+.4f}] "
            f"per-fold {np.mean(fa):+.4f} +- {np.std(fa, ddof=1):.4f} "
            f"(min {np.min(fa):+.4f}, max {np.max(fa):+.4f}); "
            f"dBrier {d['brier']:+.5f} [95% {d['brier_ci'][0]:+.5f}, {d['brier_ci'][1]:+.5f}] "
            f"per-fold {np.mean(fb):+.5f} +- {np.std(fb, ddof=1):.5f}; "
            f"new-onset dAUPRC {d['new_onset_auprc']:+.4f}\n"
            f"    beats on AUROC and Brier: {'yes' if d['beats'] else 'no'}; "
            f"outside the noise: {'yes' if d['clear'] else 'no'} -> "
            f"{'RECOMMEND (the lead decides)' if d['recommend'] else 'do not ship'}")
    return "\n".join(lines)


def chosen_table(results: dict) -> str:
    lines = ["Inner-validation choices (C per fold for LR, rounds per fold for GBM)"]
    for (h, code), r in results.items():
        parts = [f"{v}/{MODEL_NAMES[m]} {r['chosen'][(v, m)]}" for v, m in KEYS]
        lines.append(f"h{h} {code}: " + "; ".join(parts))
    return "\n".join(lines)


def report(results: dict, *, n_boot: int = 1000, seed: int = 0) -> str:
    summary = summarise(results)
    boot = patient_bootstrap(results, summary, n=n_boot, seed=seed)
    blocks = [slot_table(summary, key) for key in KEYS]
    blocks += [mean_table(summary), decision_table(compare(summary, boot), n_boot),
               chosen_table(results)]
    return "\n\n".join(blocks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path,
                        default=ROOT.parent / "shared" / "data" / "prcrs-public")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bootstrap", type=int, default=1000, help="patient resamples")
    args = parser.parse_args()
    sheet = args.data / "CAR-T.xlsx"
    if not sheet.exists():
        print(f"CAR-T sheet not found: {sheet}; nothing to evaluate (use --data DIR). "
              "Skipped.", file=sys.stderr)
        return 0
    t = time.time()
    cohort = load_cart(sheet)
    seed = pipeline_seed()
    results = run_cv(cohort, seed=seed, workers=args.workers)
    cv_s = time.time() - t
    print(f"{cohort.n_patients} patients, {len(cohort.patient)} patient-days; seed {seed}; "
          f"cross-validation {cv_s:.0f} s ({args.workers} workers, one thread each)\n")
    print(report(results, n_boot=args.bootstrap, seed=seed))
    print(f"\ntotal {time.time() - t:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
