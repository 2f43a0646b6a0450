"""Evaluate and ship all slots: pre-train (COVID-19), patient-level CV (+ row-level protocol),
choose the shipped family, train it on all development patients, export. Three kinds of file:
labs only (``h{h}_c{code}.pt``, format 1), labs + context (``h{h}_c{code}_ctx.pt``, format 2) and
the no-lab reference (``h{h}_c0_ctx.pt``, format 2); then the chloride/sodium sensitivity of the
written files (and of an earlier set, to compare).

Slots run in worker processes (``workers``, default 2, one torch thread each); every slot's
seed is derived from the base seed and the slot, so results do not depend on scheduling.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from predictor import no_lab_reference
from predictor.bedside_scores.evaluation import write_bedside_evaluation
from predictor.catalogue import (COMBINATION_CODES, CONTEXT_BOTH, HORIZONS,
                                  REFERENCE_COMBINATION, combination_factor_keys)
from predictor.training import baselines as bl
from predictor.training import context as cx
from predictor.training import evaluate_context as ec
from predictor.training.calibration import baseline_csv
from predictor.training.data import (NEUTRAL_VALUES, SODIUM_SLIP_BELOW, UNUSED_FACTOR_NOTE,
                                     CartCohort, CovidCohort, covid_matrix, horizon_rows,
                                     load_cart, load_covid, unused_in)
from predictor.training.evaluate import (ENSEMBLES, FAMILY_NAMES, LOGIT_MEAN, SHIPPABLE,
                                         best_family, evaluate_slot, nested_global_selection,
                                         summarise_slot, youden_threshold)
from predictor.training.export import (EnsembleModule, UnusedFactors, build_manifest, model_path,
                                       save_model)
from predictor.training.sensitivity import folder_sensitivity
from predictor.training.readme import write_readme
from predictor.training.served_calibration import calibrate_shipped
from predictor.training.served_headline import labs_beat_reference, nested_headline
from predictor.training.trained_ranges import trained_ranges
from predictor.training.fit import pretrain_covid, train_network
from predictor.training.folds import patient_folds, patient_table
from predictor.training.recipe import Recipe

_STATE: dict = {}  # shared with forked workers


@dataclass
class Options:
    horizons: tuple[int, ...] = HORIZONS
    combinations: tuple[str, ...] = COMBINATION_CODES
    seed: int = 20240101
    device: str = "cpu"
    workers: int = 2
    row_protocol: bool = True
    progress: bool = True
    context: bool = True                 # also the labs + context models and the reference
    compare_dir: Path | None = None      # earlier model files: their sensitivity too


SODIUM_RULE = (f"sodium < {SODIUM_SLIP_BELOW:g} mmol/L multiplied by 10 where the result is within "
               "90-200 mmol/L (a certain factor-10 slip); other values below 90 set to the median")


def slot_seed(seed: int, horizon: int, code: str) -> int:
    return seed + 1000 * horizon + 10 * COMBINATION_CODES.index(code)


def _init_worker(threads: int = 1) -> None:
    torch.set_num_threads(threads)


def _pretrain_task(code: str):
    covid: CovidCohort = _STATE["covid"]
    opts: Options = _STATE["options"]
    x, _ = covid_matrix(covid, code)
    t = time.time()
    state = pretrain_covid(x, covid.severity, _STATE["recipe"], opts.seed + 7, device=opts.device)
    return code, state, time.time() - t


def _evaluate_task(slot):
    kind, h, code = slot
    rows = _STATE["rows"][h]
    opts: Options = _STATE["options"]
    t = time.time()
    if kind == "ctx":
        res = ec.evaluate_context_slot(rows, code, _STATE["fold_of"], _STATE["ever_of"],
                                       _STATE["recipe"], slot_seed(opts.seed, h, code),
                                       device=opts.device)
    else:
        res = evaluate_slot(rows, code, _STATE["fold_of"], _STATE["ever_of"], _STATE["recipe"],
                            slot_seed(opts.seed, h, code), _STATE["pretrained"].get(code),
                            device=opts.device, row_protocol=opts.row_protocol)
    res["seconds"] = time.time() - t
    return slot, res


def _map(fn, items, workers, desc, progress):
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [fn(i) for i in tqdm(items, desc=desc, disable=not progress)]
    ctx = mp.get_context("fork")
    with ctx.Pool(workers, initializer=_init_worker) as pool:
        return list(tqdm(pool.imap_unordered(fn, items), total=len(items), desc=desc,
                         disable=not progress))


def choose_family(summaries: dict[str, dict]) -> str:
    """The labs-only shipping rule (``best_family`` among SHIPPABLE). Its honest estimate is the
    nested ``selected_global`` figure, where the same rule is applied to inner-validation AUROCs."""
    return best_family(summaries, SHIPPABLE)


def add_global_selection(results: dict, k: int) -> list[str]:
    """Nested global selection of the labs-only families: ``oof["selected_global"]``."""
    return nested_global_selection(results, k, families=SHIPPABLE, key="selected_global")


def _final_module(family: str, x, y, chosen: dict, recipe: Recipe, seed: int, pretrained,
                  device: str):
    """Train the shipped family on all development rows with the choices made in CV
    (epochs: median of the outer folds' early-stopping epochs; C: most chosen; rounds: median)."""
    info = {}
    members = ENSEMBLES.get(family, (family,))
    if family == "ens3" and pretrained is None:
        members = ("net", "lr", "lgbm")
    modules = []
    for member in members:
        if member in ("net_pre", "net"):
            epochs = max(1, int(round(statistics.median(chosen[f"{member}_epochs"]))))
            res = train_network(x, y, None, None, recipe, seed,
                                pretrained=pretrained if member == "net_pre" else None,
                                fixed_epochs=epochs, device=device)
            modules.append(res.model.cpu().eval())
            info[f"{member}_epochs"] = epochs
        elif member == "lr":
            C = Counter(chosen["lr_C"]).most_common(1)[0][0]
            modules.append(bl.LogisticModule(bl.fit_logistic_fixed(x, y, C, seed)).eval())
            info["lr_C"] = C
        elif member == "lgbm":
            rounds = max(1, int(round(statistics.median(chosen["lgbm_rounds"]))))
            booster = bl.fit_lgbm_fixed(x, y, recipe, seed, rounds)
            modules.append(bl.TreeEnsembleModule(booster, np.median(x, axis=0)).eval())
            info["lgbm_rounds"] = rounds
    if len(modules) == 1:
        return modules[0], info
    return EnsembleModule(modules, [1.0 / len(modules)] * len(modules),
                          logit_mean=family in LOGIT_MEAN).eval(), info


def _final_context_module(family: str, x, y, chosen: dict, recipe: Recipe, seed: int,
                          code: str):
    """Train the shipped context family on all rows with the CV choices (most chosen C / lab
    penalty, median LightGBM rounds); the unused factors pinned. ``ctx_ens`` is exported as one
    ``ContextEnsembleModule`` (one graph: less memory per site worker)."""
    info = {}
    modules = []
    for member in ec.CTX_ENSEMBLES.get(family, (family,)):
        if member == "ctx_lr":
            C = Counter(chosen["ctx_lr_C"]).most_common(1)[0][0]
            modules.append(cx.LinearContextModule(cx.fit_context_lr_fixed(x, y, C, seed)))
            info["ctx_lr_C"] = C
        elif member == "ctx_stack":
            lam = Counter(chosen["ctx_stack_lambda"]).most_common(1)[0][0]
            modules.append(cx.LinearContextModule(cx.fit_stacked_fixed(x, y, lam, seed)))
            info["ctx_stack_lambda"] = "inf" if np.isinf(lam) else lam
        elif member == "ctx_lgbm":
            rounds = max(1, int(round(statistics.median(chosen["ctx_lgbm_rounds"]))))
            booster = bl.fit_lgbm_fixed(x, y, recipe, seed, rounds,
                                        cx.grade_monotone(x.shape[1] - 2))
            modules.append(bl.TreeEnsembleModule(booster, np.median(x, axis=0)).eval())
            info["ctx_lgbm_rounds"] = rounds
        else:
            raise ValueError(f"{family} does not ship")
    if len(modules) == 1:
        return pin_unused(modules[0].eval(), code), info
    if family in ("ctx_ens", "ctx_ens_logit"):
        keys = list(combination_factor_keys(code))
        unused = unused_in(code)
        return cx.ContextEnsembleModule(modules[0], modules[1], [0.5, 0.5], len(keys) + 2,
                                        [keys.index(k) for k in unused],
                                        [NEUTRAL_VALUES[k] for k in unused],
                                        logit_mean=family in LOGIT_MEAN).eval(), info
    module = EnsembleModule(modules, [1.0 / len(modules)] * len(modules),
                            logit_mean=family in LOGIT_MEAN).eval()
    return pin_unused(module, code), info


def pin_unused(module, code: str):
    """Wrap a module so the combination's unused factors (chloride) cannot change its output."""
    unused = unused_in(code)
    if not unused:
        return module
    keys = list(combination_factor_keys(code))
    return UnusedFactors(module, [keys.index(k) for k in unused],
                         [NEUTRAL_VALUES[k] for k in unused]).eval()


def _unused_manifest(code: str) -> dict:
    unused = unused_in(code)
    return {"unused_factor_keys": unused, "unused_factor_note": dict(UNUSED_FACTOR_NOTE)} \
        if unused else {}


def _training_description(rows, code, family, pretrained, n_covid) -> dict:
    n_pat = len(np.unique(rows.patient))
    pre_en = (f"; network pre-trained on COVID-19 (Mount Sinai, {n_covid} samples, 3-class maximum "
              "severity) and fine-tuned with convolution and attention layers frozen"
              if family in ("net_pre", "ens_pre", "ens3") and pretrained else "; no pre-training")
    pre_zh = (f"；网络先在 COVID-19 队列（Mount Sinai，{n_covid} 个样本，三分类最高严重程度）上预训练，"
              "再冻结卷积层和注意力层进行微调" if family in ("net_pre", "ens_pre", "ens3") and pretrained
              else "；未预训练")
    return {
        "en": (f"CAR-T development cohort (the CAR-T sheet used for training): {n_pat} patients, {len(rows)} patient-days with a day d+{rows.horizon}, "
               f"{int(rows.y.sum())} severe (grade >= 3 on day d+{rows.horizon}); "
               f"{len(combination_factor_keys(code))} factors (panels {code}){pre_en}."),
        "zh-hans": (f"CAR-T 开发队列（训练所用的 CAR-T 表）："
                    f"{n_pat} 名患者，{len(rows)} 个有第 d+{rows.horizon} 天记录的患者日，其中 "
                    f"{int(rows.y.sum())} 个在第 d+{rows.horizon} 天为重度 CRS（≥3 级）；"
                    f"{len(combination_factor_keys(code))} 个指标（指标组 {code}）{pre_zh}。"),
    }


def _context_description(rows, code) -> dict:
    n_pat = len(np.unique(rows.patient))
    if code == REFERENCE_COMBINATION:
        what_en, what_zh = "no lab value: today's CRS grade and the day since infusion only", \
            "不使用化验指标：仅用当天 CRS 分级和输注后天数"
    else:
        n = len(combination_factor_keys(code))
        what_en = f"{n} factors (panels {code}) plus today's CRS grade and the day since infusion"
        what_zh = f"{n} 个指标（指标组 {code}），加上当天 CRS 分级和输注后天数"
    return {
        "en": (f"CAR-T development cohort (the CAR-T sheet used for training): {n_pat} "
               f"patients, {len(rows)} patient-days with a day d+{rows.horizon}, "
               f"{int(rows.y.sum())} severe (grade >= 3 on day d+{rows.horizon}); {what_en}."),
        "zh-hans": (f"CAR-T 开发队列（训练所用的 CAR-T 表）：{n_pat} 名患者，{len(rows)} "
                    f"个有第 d+{rows.horizon} 天记录的患者日，其中 {int(rows.y.sum())} 个在第 "
                    f"d+{rows.horizon} 天为重度 CRS（≥3 级）；{what_zh}。"),
    }


_KEEP = ("auroc", "auprc", "brier", "brier_raw", "ece", "sensitivity", "specificity",
         "threshold", "n", "severe")


def _pick(m: dict) -> dict:
    return {k: m[k] for k in _KEEP if k in m}


_CV_NOTES = ("5-fold CV grouped by patient, stratified by ever-severe; AUROC/AUPRC on the raw "
             "probability, Brier/ECE on the actual probability (baseline from the other folds' "
             "out-of-fold predictions); 'threshold' is the raw-probability cut-off for this file "
             "(Youden's J on all out-of-fold predictions), sensitivity/specificity use per-fold "
             "thresholds fixed on the training folds. New onset = rows with today's grade < 3.")


def _context_metrics(summary: dict, family: str, ship_threshold: float,
                     labs_only: dict | None) -> dict:
    """Metrics of a labs + context file (or of the reference, family "reference")."""
    cv = _pick(summary["all"][family])
    cv["threshold_cv_median"] = cv.get("threshold")
    cv["threshold"] = ship_threshold
    metrics = {"patient_cv": cv, "patient_cv_new_onset": _pick(summary["new_onset"][family])}
    if family != "reference":
        metrics["patient_cv_nested_selection"] = _pick(summary["all"]["ctx_selected_global"])
        metrics["no_lab_reference_cv"] = _pick(summary["all"]["reference"])
        metrics["no_lab_reference_cv_new_onset"] = _pick(summary["new_onset"]["reference"])
        if labs_only is not None:
            metrics["labs_only_cv"] = labs_only
    metrics["notes"] = _CV_NOTES
    return metrics


def _manifest_metrics(summary: dict, family: str, ship_threshold: float) -> dict:
    pick = _pick
    cv = pick(summary["all"][family])
    cv["threshold_cv_median"] = cv.get("threshold")
    cv["threshold"] = ship_threshold
    metrics = {
        "patient_cv": cv,
        "patient_cv_new_onset": pick(summary["new_onset"][family]),
        "patient_cv_nested_selection": pick(summary["all"]["selected_global"]),
        "no_lab_reference_auroc": {r: summary["all"][r]["auroc"] for r in ("grade", "grade_day")
                                   if r in summary["all"]},
        "notes": ("5-fold CV grouped by patient, stratified by ever-severe; AUROC/AUPRC on the raw "
                  "probability, Brier/ECE on the actual probability (baseline from the other "
                  "folds' out-of-fold predictions); 'threshold' is the raw-probability cut-off for "
                  "this file (Youden's J on all out-of-fold predictions), sensitivity/specificity "
                  "use per-fold thresholds fixed on the training folds."),
    }
    if family in summary.get("row_level", {}):
        metrics["row_level_cv"] = summary["row_level"][family]
    return metrics


def run(cart_source, covid_source, out_dir: Path | None, recipe: Recipe | None = None,
        options: Options | None = None, log=print) -> dict:
    """The whole pipeline. Returns the evaluation summary (metrics only, JSON-able)."""
    recipe = recipe or Recipe()
    opts = options or Options()
    t0 = time.time()
    # one torch thread per process: the machine is shared, and OpenMP threads that wait for a
    # busy core make training many times slower; ``workers`` processes = cores used
    torch.set_num_threads(1)
    cart: CartCohort = cart_source if isinstance(cart_source, CartCohort) else load_cart(cart_source)
    covid = None
    if covid_source is not None:
        covid = covid_source if isinstance(covid_source, CovidCohort) else load_covid(covid_source)
    ids, ever = patient_table(cart.patient, cart.grade)
    _STATE.update(
        options=opts, recipe=recipe, covid=covid, pretrained={},
        fold_of=patient_folds(cart, recipe.outer_folds, opts.seed),
        ever_of={int(p): bool(e) for p, e in zip(ids, ever)},
        rows={h: horizon_rows(cart, h) for h in opts.horizons})
    timings = {}
    if covid is not None and recipe.labs_network:  # pre-training serves the network only
        t = time.time()
        for code, state, _ in _map(_pretrain_task, opts.combinations, opts.workers,
                                   "pre-train (COVID-19)", opts.progress):
            _STATE["pretrained"][code] = state
        timings["pretrain_s"] = time.time() - t
    t = time.time()
    slots = [(h, c) for h in opts.horizons for c in opts.combinations]
    tasks = [("labs", h, c) for h, c in slots]
    if opts.context:  # the heavier labs-only slots first, so the pool ends evenly
        tasks = tasks + [("ctx", h, c) for h, c in slots]
    done = dict(_map(_evaluate_task, tasks, opts.workers, "cross-validation", opts.progress))
    results = {(h, c): done[("labs", h, c)] for h, c in slots}
    ctx_results = {(h, c): done[("ctx", h, c)] for h, c in slots} if opts.context else {}
    timings["evaluation_s"] = time.time() - t
    summary = {"slots": {}, "recipe": recipe.to_dict(), "seed": opts.seed,
               "patients": int(len(ids)), "families": FAMILY_NAMES,
               "cleaning": cart.cleaning, "patient_days": int(len(cart.values))}
    t = time.time()
    summary["global_selection_per_fold"] = add_global_selection(results, recipe.outer_folds)
    for (h, code) in slots:
        res = results[(h, code)]
        s = summarise_slot(_STATE["rows"][h], res)
        s["chosen"] = {k: v for k, v in res["chosen"].items()}
        s["seconds"] = res["seconds"]
        summary["slots"][f"{h}_{code}"] = s
    family = choose_family(summary["slots"])
    summary["shipped_family"] = family
    log(f"shipping {family}: {FAMILY_NAMES[family]}")
    if opts.context:
        _summarise_context(summary, ctx_results, recipe, opts, log)
    # the calibration each shipped family is served with (nested choice), and its figures
    summary["calibration"] = calibrate_shipped(summary, _STATE["rows"], results, ctx_results)
    for kind, choice in summary["calibration"].items():
        log(f"calibration of the {kind} files: {choice['method']}")
    _add_labs_flags(summary, ctx_results)
    t = time.time()
    for (h, code) in tqdm(slots, desc="train + export", disable=not opts.progress):
        rows = _STATE["rows"][h]
        res = results[(h, code)]
        s = summary["slots"][f"{h}_{code}"]
        s["shipped"] = family
        if out_dir is None:
            continue
        seed = slot_seed(opts.seed, h, code)
        x = rows.columns(code)
        module, info = _final_module(family, x, rows.y, res["chosen"], recipe, seed,
                                     _STATE["pretrained"].get(code), opts.device)
        raw_oof = res["oof"][family]
        threshold = youden_threshold(rows.y, raw_oof)
        manifest = build_manifest(
            h, code, np.median(x, axis=0),
            _training_description(rows, code, family, _STATE["pretrained"].get(code),
                                  0 if covid is None else len(covid.values)),
            f"{family}: {FAMILY_NAMES[family]}", _manifest_metrics(s, family, threshold), seed,
            final_training=info, recipe=recipe.to_dict(), sodium_rule=SODIUM_RULE,
            baseline_source="out-of-fold predictions of the 5-fold patient-level CV",
            trained_ranges=trained_ranges(rows, code, context=False),
            calibration=_manifest_calibration(summary, "labs"), **_unused_manifest(code))
        save_model(pin_unused(module, code), model_path(out_dir, h, code), manifest,
                   baseline_csv(raw_oof, rows.y, rows.grade_today, rows.patient),
                   check_seed=seed)
    if opts.context and out_dir is not None:
        _export_context(summary, ctx_results, recipe, opts, out_dir, progress=opts.progress)
    timings["final_training_export_s"] = time.time() - t
    if out_dir is not None or opts.compare_dir is not None:
        t = time.time()
        summary["sensitivity"] = {}
        if out_dir is not None:
            summary["sensitivity"]["shipped"] = folder_sensitivity(out_dir, _STATE["rows"],
                                                                   seed=opts.seed)
        if opts.compare_dir is not None:
            summary["sensitivity"]["previous"] = folder_sensitivity(opts.compare_dir,
                                                                    _STATE["rows"], seed=opts.seed)
        timings["sensitivity_s"] = time.time() - t
    timings["total_s"] = time.time() - t0
    summary["timings"] = timings
    if out_dir is not None:
        Path(out_dir, "evaluation.json").write_text(json.dumps(_clean(summary), indent=1))
        write_readme(json.loads(json.dumps(_clean(summary))), Path(out_dir))
        # The published bedside scores on the same patients and folds, for the model cards.
        write_bedside_evaluation(cart, out_dir, folds=recipe.outer_folds, seed=opts.seed,
                                 horizons=opts.horizons)
    log(f"done in {timings['total_s']:.0f} s")
    return summary


def _summarise_context(summary: dict, ctx_results: dict, recipe: Recipe, opts: Options,
                       log) -> None:
    """Context slots and the per-horizon reference into ``summary``; the shipped context family
    and, per slot, whether the labs add information."""
    summary["context_selection_per_fold"] = ec.add_context_global_selection(ctx_results,
                                                                           recipe.outer_folds)
    summary["context_slots"], summary["reference_slots"] = {}, {}
    for (h, code), res in ctx_results.items():
        s = summarise_slot(_STATE["rows"][h], res)
        s["chosen"] = {k: [("inf" if isinstance(v, float) and np.isinf(v) else v) for v in vals]
                       for k, vals in res["chosen"].items()}
        s["seconds"] = res["seconds"]
        summary["context_slots"][f"{h}_{code}"] = s
    family = ec.choose_context_family(summary["context_slots"])
    summary["context_shipped_family"] = family
    summary["context_families"] = ec.CTX_FAMILY_NAMES
    log(f"shipping context family {family}: {ec.CTX_FAMILY_NAMES[family]}")
    for key, s in summary["context_slots"].items():
        s["shipped"] = family
    for h in opts.horizons:
        rows = _STATE["rows"][h]
        res = ec.evaluate_reference(rows, _STATE["fold_of"], opts.seed + 1000 * h)
        ctx_results[(h, REFERENCE_COMBINATION)] = res
        summary["reference_slots"][str(h)] = summarise_slot(rows, res)


def _export_context(summary: dict, ctx_results: dict, recipe: Recipe, opts: Options,
                    out_dir: Path, progress: bool) -> None:
    family = summary["context_shipped_family"]
    keys = [(h, c) for h in opts.horizons for c in opts.combinations]
    keys += [(h, REFERENCE_COMBINATION) for h in opts.horizons]
    for (h, code) in tqdm(keys, desc="train + export (context)", disable=not progress):
        rows = _STATE["rows"][h]
        res = ctx_results[(h, code)]
        x = rows.context_columns(code)
        seed = slot_seed(opts.seed, h, code) if code != REFERENCE_COMBINATION \
            else opts.seed + 1000 * h + 7
        if code == REFERENCE_COMBINATION:
            fam, s = "reference", summary["reference_slots"][str(h)]
            module = cx.LinearContextModule(cx.fit_reference(x, rows.y, seed))
            info = {"C": no_lab_reference.C}
            extra = {}
            name = ec.CTX_FAMILY_NAMES["reference"]
        else:
            fam, s = family, summary["context_slots"][f"{h}_{code}"]
            module, info = _final_context_module(family, x, rows.y, res["chosen"], recipe, seed,
                                                 code)
            extra = {"labs_add_information": s["labs_add_information"],
                     **_unused_manifest(code)}
            name = ec.CTX_FAMILY_NAMES[family]
        raw_oof = res["oof"][fam]
        labs_only = summary["slots"].get(f"{h}_{code}")
        labs_only_cv = _pick(labs_only["all"][labs_only["shipped"]]) if labs_only else None
        manifest = build_manifest(
            h, code, np.median(rows.columns(code), axis=0), _context_description(rows, code),
            f"{fam}: {name}",
            _context_metrics(s, fam, youden_threshold(rows.y, raw_oof), labs_only_cv), seed,
            context=CONTEXT_BOTH, final_training=info, recipe=recipe.to_dict(),
            sodium_rule=SODIUM_RULE,
            baseline_source="out-of-fold predictions of the 5-fold patient-level CV",
            trained_ranges=trained_ranges(rows, code, context=True),
            calibration=_manifest_calibration(
                summary, "reference" if code == REFERENCE_COMBINATION else "context"), **extra)
        save_model(module, model_path(out_dir, h, code, CONTEXT_BOTH), manifest,
                   baseline_csv(raw_oof, rows.y, rows.grade_today, rows.patient),
                   check_seed=seed)


def _add_labs_flags(summary: dict, ctx_results: dict) -> None:
    """Per labs + context slot: ``labs_add_information`` (on the family that ships, through the
    calibrations it is served with; ``served_headline.labs_beat_reference``) and
    ``served_nested``, the served headline's figures with that flag decided per outer fold on
    the other folds."""
    if not ctx_results:
        return
    labs_cal = _manifest_calibration(summary, "context")
    reference_cal = _manifest_calibration(summary, "reference")
    for (h, code), res in ctx_results.items():
        if code == REFERENCE_COMBINATION:
            continue
        s, rows = summary["context_slots"][f"{h}_{code}"], _STATE["rows"][h]
        labs_raw, reference_raw = res["oof"][s["shipped"]], res["oof"]["reference"]
        s["labs_add_information"] = labs_beat_reference(rows.y, res["fold"], rows.patient,
                                                        labs_raw, reference_raw, labs_cal,
                                                        reference_cal)
        s["served_nested"] = nested_headline(rows.y, rows.grade_today, res["fold"],
                                             rows.patient, labs_raw, reference_raw, labs_cal,
                                             reference_cal)


def _manifest_calibration(summary: dict, kind: str) -> dict:
    """The manifest's ``calibration`` key: the method chosen for this kind of file."""
    choice = summary["calibration"][kind]
    return {"method": choice["method"], "params": dict(choice["params"])}


def _clean(obj):
    from predictor.training.export import json_clean
    return json_clean(obj)
