"""python manage.py train_models --cart PATH --covid PATH --out DIR [--horizons 1 2 3]
[--combinations 1234 123 ...] [--seed N] [--epochs N] [--device cpu|cuda] [--workers N]
[--no-context] [--no-network] [--compare-with DIR] [--cleaning-doc PATH]

Evaluates every requested slot with patient-level cross-validation, trains the shipped model on
all development patients and writes into --out: ``h{h}_c{code}.pt`` (labs only),
``h{h}_c{code}_ctx.pt`` (labs + today's CRS grade and day) and ``h{h}_c0_ctx.pt`` (the no-lab
reference), each TorchScript with manifest.json and baseline.csv inside, plus
``evaluation.json`` (metrics only, with the chloride/sodium sensitivity of the written files and
of the files in --compare-with) and ``README.md`` written from it; and the training data's
cleaning rules with their row counts (docs/training-data.md for a release run into models_store/). The work is done by ``predictor.training.pipeline``; this command
only parses arguments.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from predictor.catalogue import COMBINATION_CODES, HORIZONS


class Command(BaseCommand):
    help = "Train, evaluate (patient-level CV) and export the default PrCRS models."

    def add_arguments(self, parser):
        parser.add_argument("--cart", required=True, help="CAR-T.xlsx")
        parser.add_argument("--covid", help="COVID-19.xlsx (pre-training; omit to skip it)")
        parser.add_argument("--out", required=True, help="output folder for the model files")
        parser.add_argument("--horizons", type=int, nargs="+", default=list(HORIZONS),
                            choices=list(HORIZONS))
        parser.add_argument("--combinations", nargs="+", default=list(COMBINATION_CODES),
                            choices=list(COMBINATION_CODES))
        parser.add_argument("--seed", type=int, default=20240101)
        parser.add_argument("--epochs", type=int, help="maximum epochs (training and fine-tuning)")
        parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
        parser.add_argument("--workers", type=int, default=2,
                            help="worker processes (one torch thread each); 1 on CUDA")
        parser.add_argument("--no-row-protocol", action="store_true",
                            help="skip the row-level (paper) protocol figures")
        parser.add_argument("--no-network", action="store_true",
                            help="skip the PrCRS network families (they never ship: over the "
                                 "serving budget); the shipped families and figures are the same")
        parser.add_argument("--no-context", action="store_true",
                            help="labs-only models only (no context models, no reference)")
        parser.add_argument("--cleaning-doc", metavar="PATH",
                            help="where to write the cleaning rules with their row counts "
                                 "(default: docs/training-data.md when --out is this "
                                 "repository's models_store/, else nowhere)")
        parser.add_argument("--compare-with", metavar="DIR",
                            help="earlier model files whose chloride/sodium sensitivity to report")

    def handle(self, *args, **opts):
        import torch

        from predictor.training import pipeline
        from predictor.training.recipe import Recipe

        if opts["device"] == "cuda" and not torch.cuda.is_available():
            raise CommandError("--device cuda was asked for, but CUDA is not available here.")
        for key in ("cart", "covid"):
            if opts[key] and not Path(opts[key]).exists():
                raise CommandError(f"--{key}: no such file: {opts[key]}")
        if opts["compare_with"] and not Path(opts["compare_with"]).is_dir():
            raise CommandError(f"--compare-with: no such folder: {opts['compare_with']}")
        recipe = Recipe()
        if opts["epochs"]:
            recipe = dataclasses.replace(recipe, max_epochs=opts["epochs"],
                                         finetune_max_epochs=opts["epochs"])
        if opts["no_network"]:
            recipe = dataclasses.replace(recipe, labs_network=False, ctx_network=False)
        workers = 1 if opts["device"] == "cuda" else max(1, opts["workers"])
        options = pipeline.Options(horizons=tuple(opts["horizons"]),
                                   combinations=tuple(opts["combinations"]), seed=opts["seed"],
                                   device=opts["device"], workers=workers,
                                   row_protocol=not opts["no_row_protocol"],
                                   context=not opts["no_context"],
                                   compare_dir=(Path(opts["compare_with"])
                                                if opts["compare_with"] else None))
        out = Path(opts["out"])
        out.mkdir(parents=True, exist_ok=True)
        from predictor.training.data import SheetError

        try:
            summary = pipeline.run(opts["cart"], opts["covid"], out, recipe, options,
                                   log=lambda msg: self.stdout.write(msg))
        except SheetError as exc:
            raise CommandError(str(exc)) from exc
        from predictor.training.data import cleaning_doc_path, write_cleaning_doc

        # A release run (into this repository's models_store/) also rewrites the documents
        # whose figures come from it.
        bundled = out.resolve() == cleaning_doc_path().parents[1] / "models_store"
        doc = Path(opts["cleaning_doc"]) if opts["cleaning_doc"] else (
            cleaning_doc_path() if bundled else None)
        if doc is not None and summary.get("cleaning"):
            write_cleaning_doc(summary["cleaning"], summary["patient_days"],
                               Path(opts["cart"]).name, doc)
            self.stdout.write(f"wrote {doc}")
        if bundled and summary.get("context_slots"):
            from predictor.training import top_readme

            top_readme.update(out / "evaluation.json")
            self.stdout.write(f"wrote the figures of {top_readme.ROOT / 'README.md'}")
        for key, slot in summary["slots"].items():
            m = slot["all"][slot["shipped"]]
            self.stdout.write(f"h{key.replace('_', ' c')}: shipped {slot['shipped']}, "
                              f"patient-CV AUROC {m['auroc']:.3f}, Brier {m['brier']:.3f}")
        for key, slot in summary.get("context_slots", {}).items():
            m, r = slot["all"][slot["shipped"]], slot["all"]["reference"]
            self.stdout.write(f"h{key.replace('_', ' c')} + context: shipped {slot['shipped']}, "
                              f"AUROC {m['auroc']:.3f} (no-lab reference {r['auroc']:.3f}), "
                              f"Brier {m['brier']:.3f} ({r['brier']:.3f})")
        n_files = len(summary["slots"]) + len(summary.get("context_slots", {})) \
            + len(summary.get("reference_slots", {}))
        self.stdout.write(self.style.SUCCESS(f"wrote {n_files} model files to {out}"))
