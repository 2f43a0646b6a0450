"""Print the accuracy tables of the PrCRS models (patient-level CV, baselines, no-lab references,
new-onset subset, row-level protocol), the labs-only / labs + context / no-lab reference
comparison on the same folds, the context family comparison, and the chloride/sodium
sensitivity of model files.

    python bench/accuracy.py                       # runs the evaluation on ../shared/data/prcrs-public/
    python bench/accuracy.py --data DIR            # sheets from another folder
    python bench/accuracy.py --summary models_store/evaluation.json   # print a saved evaluation
    python bench/accuracy.py --summary models_store/evaluation.json --sensitivity-of DIR
                                                   # + the sensitivity of the files in DIR
    python bench/accuracy.py --calibration         # calibration methods x families (issue 15)
    python bench/accuracy.py --slope-noise         # each bundled file's slope beside the chance
                                                   #   that a calibrated file would pass 0.8-1.2
                                                   #   (no data needed; --slope-noise DIR: files)
    python bench/accuracy.py --summary models_store/evaluation.json --bedside-scores
                                                   # + m-EASIX and EASIX beside the models
                                                   #   (--save-bedside DIR: write their JSON)

A script, not a test: the full evaluation takes minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "prcrs-public")
    parser.add_argument("--summary", type=Path, help="print a saved evaluation.json instead")
    parser.add_argument("--no-pretrain", action="store_true")
    parser.add_argument("--no-row-protocol", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument("--save", type=Path, help="write the evaluation (metrics only) as JSON")
    parser.add_argument("--no-context", action="store_true", help="labs-only models only")
    parser.add_argument("--sensitivity-of", type=Path, action="append", default=[],
                        metavar="DIR", help="model files whose chloride/sodium sensitivity to "
                                            "print (repeatable; needs the CAR-T sheet)")
    parser.add_argument("--calibration", action="store_true",
                        help="compare the calibration methods per family (nested, patient-level) "
                             "and print the chosen method per family")
    parser.add_argument("--slope-noise", type=Path, nargs="?", const=ROOT / "models_store",
                        metavar="DIR", help="the calibration slope of each model file in DIR "
                        "(default: the bundled files) on its own baseline, and the chance that a "
                        "perfectly calibrated file would land inside 0.8-1.2 on the same rows")
    parser.add_argument("--bedside-scores", action="store_true",
                        help="also m-EASIX and EASIX on the same patients and folds (needs the "
                             "CAR-T sheet)")
    parser.add_argument("--save-bedside", type=Path, metavar="DIR",
                        help="write bedside_scores.json (the model cards' comparison) into DIR")
    parser.add_argument("--any-labs", action="store_true",
                        help="only the any-labs model vs the no-lab reference (issue 16)")
    args = parser.parse_args()
    if args.calibration:
        return _calibration(args)
    if args.slope_noise:
        return _slope_noise(args.slope_noise)
    if args.any_labs:
        return _any_labs(args)

    from predictor.training import pipeline
    from predictor.training.report import full_report
    from predictor.training.report_context import context_report

    if args.summary:
        summary = json.loads(args.summary.read_text())
    else:
        cart, covid = args.data / "CAR-T.xlsx", args.data / "COVID-19.xlsx"
        if not cart.exists():
            print(f"CAR-T sheet not found: {cart} (use --data DIR)", file=sys.stderr)
            return 2
        t = time.time()
        summary = pipeline.run(cart, None if args.no_pretrain else covid, None,
                               options=pipeline.Options(seed=args.seed, workers=args.workers,
                                                        row_protocol=not args.no_row_protocol,
                                                        context=not args.no_context))
        summary = json.loads(json.dumps(pipeline._clean(summary)))
        print(f"evaluation took {time.time() - t:.0f} s")
        if args.save:
            args.save.write_text(json.dumps(summary, indent=1))
    if args.sensitivity_of:
        summary.setdefault("sensitivity", {}).update(_sensitivity(args))
    print(full_report(summary))
    print(context_report(summary))
    if summary.get("calibration"):
        from predictor.training.goals import calibration_markdown, goals_markdown

        print("\n## Calibration of the shipped families (nested, patient-level)\n")
        print(calibration_markdown(summary))
        print("## Goals (development patients, patient-level CV)\n")
        print(goals_markdown(summary))
    if args.bedside_scores or args.save_bedside:
        print(bedside_scores_report(args, summary))
    return 0


def bedside_scores_report(args, summary: dict) -> str:
    """m-EASIX and EASIX (published scores, nothing fitted) beside the site's models: AUROC per
    horizon on all rows and on the new-onset rows (grade < 3 today), the same patients and
    patient-level folds (predictor.bedside_scores.evaluation)."""
    from predictor.bedside_scores.evaluation import (
        evaluate_bedside_scores,
        write_bedside_evaluation,
    )
    from predictor.training.data import load_cart

    cart = load_cart(args.data / "CAR-T.xlsx")
    folds = summary.get("recipe", {}).get("outer_folds", 5)
    seed = summary.get("seed", args.seed)
    if args.save_bedside:
        write_bedside_evaluation(cart, args.save_bedside, folds=folds, seed=seed)
    scores = evaluate_bedside_scores(cart, folds=folds, seed=seed)

    def model(slots: str, key: str, subset: str) -> str:
        slot = summary.get(slots, {}).get(key, {})
        family = slot.get("shipped", "reference")
        value = slot.get(subset, {}).get(family, {}).get("auroc")
        return "   —  " if value is None else f"{value:6.3f}"

    lines = ["", "Published bedside scores beside the models: patient-level CV AUROC "
             f"({folds} folds, seed {seed}; the scores are not fitted)",
             f"{'horizon':>7} {'rows':>10} {'n':>5} {'severe':>6} {'m-EASIX':>8} {'EASIX':>6} "
             f"{'no-lab ref':>10} {'labs 1234':>9} {'labs 3':>6} {'ctx 1234':>8} {'ctx 3':>6}"]
    for h, by_subset in scores["horizons"].items():
        for subset, found in by_subset.items():
            m, e = found["m_easix"], found["easix"]
            lines.append(
                f"{h:>7} {'all' if subset == 'all' else 'grade < 3':>10} {m['n']:>5} "
                f"{m['severe']:>6} {m['auroc']:8.3f} {e['auroc']:6.3f} "
                f"{model('reference_slots', h, subset):>10} "
                f"{model('slots', f'{h}_1234', subset):>9} {model('slots', f'{h}_3', subset):>6} "
                f"{model('context_slots', f'{h}_1234', subset):>8} "
                f"{model('context_slots', f'{h}_3', subset):>6}")
    return "\n".join(lines)


def _sensitivity(args) -> dict:
    import torch

    from predictor.training.data import horizon_rows, load_cart
    from predictor.training.sensitivity import folder_sensitivity

    torch.set_num_threads(1)
    cart = load_cart(args.data / "CAR-T.xlsx")
    rows = {h: horizon_rows(cart, h) for h in (1, 2, 3)}
    return {str(d): folder_sensitivity(d, rows, seed=args.seed) for d in args.sensitivity_of}


# Families whose calibration is compared: what may ship (labs only, labs + context, the no-lab
# reference) and the plain logistic regression on grade and day (issue 15's yardstick).
LABS_FAMILIES = ("lr", "lgbm", "ens_trees", "ens_trees_logit", "grade_day")
CONTEXT_FAMILIES = ("ctx_lr", "ctx_lgbm", "ctx_stack", "ctx_ens", "ctx_ens_logit")


def _calibration_task(task):
    from predictor.training import evaluate as ev
    from predictor.training import evaluate_context as ec

    kind, h, code = task
    state = _CAL_STATE
    rows = state["rows"][h]
    seed = state["seed"] + 1000 * h + 10 * state["codes"].index(code) if code != "0" else \
        state["seed"] + 1000 * h
    if kind == "labs":
        res = ev.evaluate_slot(rows, code, state["fold_of"], state["ever_of"], state["recipe"],
                               seed, None, row_protocol=False)
    elif kind == "ctx":
        res = ec.evaluate_context_slot(rows, code, state["fold_of"], state["ever_of"],
                                       state["recipe"], seed)
    else:
        res = ec.evaluate_reference(rows, state["fold_of"], seed)
    return task, {"oof": res["oof"], "fold": res["fold"]}


_CAL_STATE: dict = {}


def _calibration(args) -> int:
    import multiprocessing as mp

    import torch

    from predictor.catalogue import COMBINATION_CODES, HORIZONS
    from predictor.training.calibration_choice import choose_calibration, slot_predictions
    from predictor.training.data import horizon_rows, load_cart
    from predictor.training.folds import patient_folds, patient_table
    from predictor.training.recipe import Recipe

    cart_path = args.data / "CAR-T.xlsx"
    if not cart_path.exists():
        print(f"CAR-T sheet not found: {cart_path} (use --data DIR)", file=sys.stderr)
        return 2
    t0 = time.time()
    torch.set_num_threads(1)
    cart = load_cart(cart_path)
    # The networks do not ship (evaluate.USES_NETWORK, CTX_SHIPPABLE): one epoch keeps their
    # cost out of this bench; no figure of theirs is reported, and the other families' OOF
    # predictions do not depend on them.
    recipe = Recipe(max_epochs=1, finetune_max_epochs=1, patience=1, ctx_network=False)
    ids, ever = patient_table(cart.patient, cart.grade)
    _CAL_STATE.update(rows={h: horizon_rows(cart, h) for h in HORIZONS}, recipe=recipe,
                      fold_of=patient_folds(cart, recipe.outer_folds, args.seed),
                      ever_of={int(p): bool(e) for p, e in zip(ids, ever)}, seed=args.seed,
                      codes=COMBINATION_CODES)
    tasks = [(kind, h, c) for kind in ("labs", "ctx") for h in HORIZONS
             for c in COMBINATION_CODES] + [("ref", h, "0") for h in HORIZONS]
    if args.workers > 1:
        with mp.get_context("fork").Pool(args.workers) as pool:
            done = dict(pool.imap_unordered(_calibration_task, tasks))
    else:
        done = dict(map(_calibration_task, tasks))
    print(f"out-of-fold predictions took {time.time() - t0:.0f} s")
    families: dict[str, list] = {}
    for (kind, h, code), res in sorted(done.items()):
        rows = _CAL_STATE["rows"][h]
        names = {"labs": LABS_FAMILIES, "ctx": CONTEXT_FAMILIES, "ref": ("reference",)}[kind]
        if kind == "labs" and code != COMBINATION_CODES[0]:
            names = tuple(f for f in names if f != "grade_day")  # the same rows in every slot
        for fam in names:
            name = f"h{h}_c{code}" + ("_ctx" if kind != "labs" else "")
            families.setdefault(fam, []).append(slot_predictions(name, rows, res, fam))
    print(f"{len(done)} slot evaluations; calibration compared in nested patient-level CV "
          "(each outer fold calibrated on the other folds' out-of-fold rows)")
    chosen = {}
    for fam, slots in families.items():
        choice = choose_calibration(slots)
        chosen[fam] = choice
        _print_calibration_table(fam, len(slots), choice)
    print("\nChosen method per family (rule: lowest mean nested log loss, Brier as tie-break):")
    for fam, choice in chosen.items():
        all_rows = choice.table[choice.method]["all"]
        print(f"  {fam:10s} {choice.method:9s} log loss {all_rows['log_loss']:.4f}  "
              f"Brier {all_rows['brier']:.4f}  slope {all_rows['slope']:.2f}")
    _bundled_calibration(ROOT / "models_store")
    print(f"total {time.time() - t0:.0f} s")
    return 0


def _bundled_calibration(directory: Path) -> None:
    """The bundled files as the registry builds their maps: load time, and the share of answers
    (their own baseline scores as queries) under 1 % per method; none is ever exactly 0."""
    from predictor.model_versions.baselines import baseline_columns, parse_baseline_csv
    from predictor.model_versions.calibration_spec import calibration_spec
    from predictor.model_versions.model_files import read_extra_files, read_manifest
    from predictor.scoring.calibration import METHODS, build_calibration

    files = sorted(directory.glob("h*_c*.pt"))
    baselines, specs = [], []
    for path in files:
        extras = read_extra_files(path.read_bytes())
        baselines.append(baseline_columns(parse_baseline_csv(extras["baseline.csv"])))
        specs.append(calibration_spec(read_manifest(extras)))
    t = time.perf_counter()
    for (scores, severe, patients), spec in zip(baselines, specs):
        build_calibration(spec.method, spec.params, scores, severe, patients)
    with_patients = sum(p is not None for _, _, p in baselines)
    print(f"\nBundled files: {len(files)} maps built as served in {time.perf_counter() - t:.2f} s "
          f"({with_patients} baselines with a patient column; methods: "
          f"{sorted({s.method for s in specs})})")
    total = sum(len(s) for s, _, _ in baselines)
    for method in METHODS:
        under = zero = 0
        for scores, severe, _ in baselines:
            p = build_calibration(method, None, scores, severe).lookup_many(scores).probability
            under += int((p < 0.01).sum())
            zero += int(((p <= 0) | (p >= 1)).sum())
        print(f"  {method:9s} answers under 1 %: {under} of {total} ({under / total:.1%}); "
              f"exactly 0 or 1: {zero}")


def _slope_noise(directory: Path) -> int:
    """Each file's slope on its own baseline through its own map (for an ``identity`` file
    this is its nested slope: the baseline is out-of-fold), its 95 % patient interval, and the
    chance that a calibrated file would land inside the band on the same rows; per kind, the
    files outside against the number expected outside by chance alone."""
    from predictor.model_versions.baselines import baseline_columns, parse_baseline_csv
    from predictor.model_versions.calibration_spec import calibration_spec
    from predictor.model_versions.model_files import read_extra_files, read_manifest
    from predictor.scoring.calibration import build_calibration
    import numpy as np

    from predictor.training.calibration_choice import SLOPE_RESAMPLES, \
        calibration_slope_intercept, slope_interval
    from predictor.training.goals import SLOPE_RANGE, slope_figure
    from predictor.training.slope_noise import chance_inside_band, summarise_chances

    files = sorted(directory.glob("h*_c*.pt"))
    if not files:
        print(f"no model files (h*_c*.pt) in {directory}", file=sys.stderr)
        return 2
    t0 = time.time()
    low, high = SLOPE_RANGE
    print(f"Calibration slopes of {len(files)} files in {directory}, each on its own baseline "
          f"through its own map; 'chance' = share of {SLOPE_RESAMPLES} draws in which a perfectly calibrated "
          f"file (outcomes drawn from its probabilities, patients resampled) lands inside "
          f"{low}-{high}")
    print(f"{'file':14s} {'map':9s} {'rows':>5s} {'severe':>6s} {'slope':>6s} "
          f"{'95 % interval':>15s} {'chance':>6s}")
    kinds: dict[str, list] = {}
    for path in files:
        extras = read_extra_files(path.read_bytes())
        scores, severe, patients = baseline_columns(parse_baseline_csv(extras["baseline.csv"]))
        spec = calibration_spec(read_manifest(extras))
        if patients is None:
            print(f"{path.stem:14s} {spec.method:9s} baseline without a patient column: skipped")
            continue
        p = build_calibration(spec.method, spec.params, scores, severe).probabilities(scores)
        y = np.asarray(severe, dtype=np.float64)
        slope = calibration_slope_intercept(y, p)[0]
        interval = slope_interval(y, p, patients)
        chance = chance_inside_band(p, patients)
        kind = "reference" if "_c0_" in path.name else "context" if "_ctx" in path.name \
            else "labs only"
        kinds.setdefault(kind, []).append((slope, chance))
        print(f"{path.stem:14s} {spec.method:9s} {len(y):5d} {int(y.sum()):6d} "
              f"{slope_figure(slope):>6s} "
              f"[{interval[0]:5.2f}-{interval[1]:5.2f}] {chance:6.2f}"
              + ("" if low <= slope <= high else "  outside"))
    print()
    for kind, rows in kinds.items():
        outside = sum(not low <= s <= high for s, _ in rows)
        summary = summarise_chances([c for _, c in rows])
        print(f"{kind:9s}: {outside} of {len(rows)} outside {low}-{high}; expected outside by "
              f"chance alone if every file were calibrated: {summary.expected_outside:.1f}; "
              f"chance that all {len(rows)} land inside: {summary.all_inside:.3f}")
    print(f"total {time.time() - t0:.0f} s")
    return 0


def _print_calibration_table(family: str, n_slots: int, choice) -> None:
    print(f"\n== {family} ({n_slots} slots; means over slots) ==")
    header = (f"{'method':9s} | {'logloss':>7s} {'Brier':>7s} {'ECE':>6s} {'slope':>6s} "
              f"{'icept':>6s} | new onset: {'logloss':>7s} {'Brier':>7s} {'ECE':>6s} "
              f"{'slope':>6s} {'icept':>6s}")
    print(header)
    for method, subsets in choice.table.items():
        cells = []
        for subset in ("all", "new_onset"):
            m = subsets[subset]
            cells.append(f"{m['log_loss']:7.4f} {m['brier']:7.4f} {m['ece']:6.4f} "
                         f"{m['slope']:6.2f} {m['intercept']:6.2f}")
        mark = " *" if method == choice.method else ""
        print(f"{method:9s} | {cells[0]} | new onset: {cells[1]}{mark}")


def _any_labs(args) -> int:
    """The any-labs model (whatever labs are present, LightGBM with native missing values) vs
    the no-lab reference on the same patient-level folds and masked rows."""
    from predictor.training.any_labs import (
        SCENARIOS,
        AnyLabsOptions,
        any_labs_report,
        evaluate_any_labs,
        should_ship,
    )
    from predictor.training.data import horizon_rows, load_cart
    from predictor.training.folds import patient_folds, patient_table
    from predictor.training.recipe import Recipe

    cart_path = args.data / "CAR-T.xlsx"
    if not cart_path.exists():
        print(f"CAR-T sheet not found: {cart_path} (use --data DIR)", file=sys.stderr)
        return 2
    cart = load_cart(cart_path)
    fold_of = patient_folds(cart, Recipe().outer_folds, args.seed)
    ids, ever = patient_table(cart.patient, cart.grade)
    ever_of = {int(p): bool(e) for p, e in zip(ids, ever)}
    rows = {h: horizon_rows(cart, h) for h in (1, 2, 3)}
    by_scenario = {}
    for name, masking in SCENARIOS.items():
        options = AnyLabsOptions(seed=args.seed, **masking)
        by_scenario[name] = {h: evaluate_any_labs(rows[h], fold_of, ever_of, Recipe(), options)
                             for h in rows}
        print(any_labs_report(by_scenario[name], name))
    print(f"Decision: {'ship' if should_ship(by_scenario) else 'do not ship'} the any-labs "
          "model (rule: better new-onset AUPRC and Brier at every horizon, in every scenario).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
