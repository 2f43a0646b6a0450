"""Print the accuracy tables of the PrCRS models (patient-level CV, baselines, no-lab references,
new-onset subset, row-level protocol), the labs-only / labs + context / no-lab reference
comparison on the same folds, the context family comparison, and the chloride/sodium
sensitivity of model files.

    python bench/accuracy.py                       # runs the evaluation on ../shared/data/prcrs-public/
    python bench/accuracy.py --data DIR            # sheets from another folder
    python bench/accuracy.py --summary models_store/evaluation.json   # print a saved evaluation
    python bench/accuracy.py --summary models_store/evaluation.json --sensitivity-of DIR
                                                   # + the sensitivity of the files in DIR

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
    parser.add_argument("--any-labs", action="store_true",
                        help="only the any-labs model vs the no-lab reference (issue 16)")
    args = parser.parse_args()
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
    return 0


def _sensitivity(args) -> dict:
    import torch

    from predictor.training.data import horizon_rows, load_cart
    from predictor.training.sensitivity import folder_sensitivity

    torch.set_num_threads(1)
    cart = load_cart(args.data / "CAR-T.xlsx")
    rows = {h: horizon_rows(cart, h) for h in (1, 2, 3)}
    return {str(d): folder_sensitivity(d, rows, seed=args.seed) for d in args.sensitivity_of}


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
