"""Print the accuracy tables of the PrCRS models (patient-level CV, baselines, no-lab references,
new-onset subset, row-level protocol), the labs-only / labs + context / no-lab reference
comparison on the same folds, the context family comparison, and the chloride/sodium
sensitivity of model files.

    python bench/accuracy.py                       # runs the evaluation on ../shared/data/prcrs-public/
    python bench/accuracy.py --data DIR            # sheets from another folder
    python bench/accuracy.py --summary models_store/evaluation.json   # print a saved evaluation
    python bench/accuracy.py --summary models_store/evaluation.json --sensitivity-of DIR
                                                   # + the sensitivity of the files in DIR
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
    parser.add_argument("--bedside-scores", action="store_true",
                        help="also m-EASIX and EASIX on the same patients and folds (needs the "
                             "CAR-T sheet)")
    parser.add_argument("--save-bedside", type=Path, metavar="DIR",
                        help="write bedside_scores.json (the model cards' comparison) into DIR")
    args = parser.parse_args()

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


if __name__ == "__main__":
    sys.exit(main())
