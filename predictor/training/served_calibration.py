"""The calibration each shipped family is served with, chosen by evidence, and its figures.

For the three kinds of shipped file (labs only, labs + context, the no-lab reference), the
family's out-of-fold predictions over its slots go to ``calibration_choice.choose_calibration``
(nested, patient-level; the rule is fixed there). The chosen method is written into every file's
manifest (``calibration``), and the family's Brier / ECE in the evaluation are recomputed through
the chosen map, so the figures of a file and the "labs add information" criterion describe the
probability the site serves.
"""

from __future__ import annotations

import numpy as np

from predictor.catalogue import REFERENCE_COMBINATION
from predictor.training.calibration_choice import (SlotPredictions, choose_calibration,
                                                     nested_probabilities, slope_interval,
                                                     slot_predictions)
from predictor.training.evaluate import patient_metrics


def choose(slots: list[SlotPredictions]) -> dict:
    """{"method", "params", "table" (method x subset x metric, means over slots), "per_slot"
    (the chosen method's figures per slot, with ``slope_ci``: the slope's 95 % interval by
    patient bootstrap)} for one family's slots."""
    choice = choose_calibration(slots)
    per_slot = choice.per_slot[choice.method]
    for slot in slots:
        p = nested_probabilities(slot, choice.method, choice.params)
        per_slot[slot.name]["all"]["slope_ci"] = list(slope_interval(slot.severe, p,
                                                                     slot.patient))
    return {"method": choice.method, "params": choice.params, "table": choice.table,
            "per_slot": per_slot}


def rescore(summary_slot: dict, rows, result: dict, family: str, calibration: dict) -> None:
    """Replace a family's figures in a slot summary by those through its chosen calibration."""
    y, raw, fold = rows.y, np.asarray(result["oof"][family]), result["fold"]
    method, params = calibration["method"], calibration["params"]
    summary_slot["all"][family] = patient_metrics(y, raw, fold, None, method, params)
    summary_slot["new_onset"][family] = patient_metrics(y, raw, fold, rows.grade_today < 3,
                                                        method, params)


def calibrate_shipped(summary: dict, rows_by_h: dict, labs_results: dict,
                      ctx_results: dict) -> dict:
    """Choose the calibration of the shipped labs-only family, the shipped context family and
    the reference; rescore them in ``summary``. Returns {"labs", "context", "reference"}."""
    chosen = {}
    family = summary["shipped_family"]
    chosen["labs"] = choose([slot_predictions(f"h{h}_c{c}", rows_by_h[h], res, family)
                             for (h, c), res in sorted(labs_results.items())])
    for (h, c), res in labs_results.items():
        rescore(summary["slots"][f"{h}_{c}"], rows_by_h[h], res, family, chosen["labs"])
    if not ctx_results:
        return chosen
    ctx_family = summary["context_shipped_family"]
    lab_slots = {k: v for k, v in ctx_results.items() if k[1] != REFERENCE_COMBINATION}
    ref_slots = {k: v for k, v in ctx_results.items() if k[1] == REFERENCE_COMBINATION}
    chosen["context"] = choose([slot_predictions(f"h{h}_c{c}_ctx", rows_by_h[h], res, ctx_family)
                                for (h, c), res in sorted(lab_slots.items())])
    chosen["reference"] = choose([slot_predictions(f"h{h}_c0_ctx", rows_by_h[h], res,
                                                   "reference")
                                  for (h, _), res in sorted(ref_slots.items())])
    for (h, c), res in lab_slots.items():
        s = summary["context_slots"][f"{h}_{c}"]
        rescore(s, rows_by_h[h], res, ctx_family, chosen["context"])
        rescore(s, rows_by_h[h], res, "reference", chosen["reference"])
    for (h, _), res in ref_slots.items():
        rescore(summary["reference_slots"][str(h)], rows_by_h[h], res, "reference",
                chosen["reference"])
    return chosen
