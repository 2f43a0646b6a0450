"""python manage.py training_data_report --cart PATH [--out docs/training-data.md]

Writes the training data's cleaning rules with the patient-days each one changed
(``predictor.training.data.cleaning_markdown``); ``train_models`` writes the same file.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Write docs/training-data.md: the cleaning rules and their row counts."

    def add_arguments(self, parser):
        parser.add_argument("--cart", required=True, help="CAR-T.xlsx")
        parser.add_argument("--out", help="output file (default docs/training-data.md)")

    def handle(self, *args, **opts):
        from predictor.training.data import (SheetError, cleaning_doc_path, load_cart,
                                             write_cleaning_doc)

        path = Path(opts["cart"])
        if not path.exists():
            raise CommandError(f"--cart: no such file: {path}")
        try:
            cart = load_cart(path)
        except SheetError as exc:
            raise CommandError(str(exc)) from exc
        out = Path(opts["out"]) if opts["out"] else cleaning_doc_path()
        write_cleaning_doc(cart.cleaning, len(cart.values), path.name, out)
        self.stdout.write(self.style.SUCCESS(f"wrote {out}"))
