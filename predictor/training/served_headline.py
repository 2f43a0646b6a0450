"""Which number a physician reads with today's grade and day, and that number measured without
peeking.

Per labs + context slot the site leads with the no-lab reference's probability unless the file
says its labs add information (``labs_add_information`` in the manifest). The criterion
(``labs_beat_reference``), on the family that ships and the probabilities it is served with
(each row calibrated on the other folds' rows): its AUROC is higher AND its Brier is lower beyond
chance, i.e. the 97.5th percentile of the paired Brier difference over ``GAIN_RESAMPLES``
patient bootstrap resamples is below 0.

The first criterion, a lower Brier by any margin, was measured by ``nested_headline`` and
failed: its picks rested on gains of a few ten-thousandths that did not hold in the held-out
folds, so leading with the labs where it said so cost Brier against always leading with the
reference.

``nested_headline``: the flag of each outer fold decided on the other four folds only, the
held-out fold answered by whichever leads there. A flag decided on all five folds makes the
served headline's figures on those same folds optimistic; this one does not.
"""

from __future__ import annotations

import numpy as np

from predictor.training.calibration import actual_probabilities
from predictor.training.calibration_choice import NEW_ONSET_BELOW
from predictor.training.evaluate import binary_metrics, calibrated_oof, safe_auroc

GAIN_RESAMPLES = 200
GAIN_SEED = 20260501  # fixed: the same predictions always give the same flag


def brier_gain_interval(y, labs_p, reference_p, patient, resamples: int = GAIN_RESAMPLES,
                        seed: int = GAIN_SEED) -> tuple[float, float]:
    """95 % interval of mean Brier(labs) - mean Brier(reference) on the same rows, resampling
    patients with all their days (paired: both probabilities of a row stay together)."""
    y = np.asarray(y, dtype=np.float64)
    difference = (np.asarray(labs_p, float) - y) ** 2 - (np.asarray(reference_p, float) - y) ** 2
    _, index = np.unique(np.asarray(patient), return_inverse=True)
    per_patient = np.bincount(index, weights=difference)
    days = np.bincount(index).astype(np.float64)
    draws = np.random.default_rng(seed).integers(0, len(days), (resamples, len(days)))
    means = per_patient[draws].sum(axis=1) / days[draws].sum(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def labs_beat_reference(y, fold, patient, labs_raw, reference_raw, labs_calibration: dict,
                        reference_calibration: dict) -> bool:
    """``labs_add_information`` on these rows (module docstring)."""
    y, fold = np.asarray(y, dtype=np.float64), np.asarray(fold)
    labs_p = calibrated_oof(y, np.asarray(labs_raw, float), fold, labs_calibration["method"],
                            labs_calibration["params"])[0]
    reference_p = calibrated_oof(y, np.asarray(reference_raw, float), fold,
                                 reference_calibration["method"],
                                 reference_calibration["params"])[0]
    if not safe_auroc(y, labs_p) > safe_auroc(y, reference_p):
        return False
    return brier_gain_interval(y, labs_p, reference_p, patient)[1] < 0


def nested_headline(y, grade_today, fold, patient, labs_raw, reference_raw,
                    labs_calibration: dict, reference_calibration: dict) -> dict:
    """{"all": metrics, "new_onset": metrics, "labs_lead_folds": "k of K"} of the served
    headline with the flag decided per outer fold on the other folds (module docstring)."""
    y, fold, patient = np.asarray(y, dtype=np.float64), np.asarray(fold), np.asarray(patient)
    labs_raw, reference_raw = np.asarray(labs_raw, float), np.asarray(reference_raw, float)
    served = np.full(len(y), np.nan)
    leads = 0
    for f in np.unique(fold):
        test, train = fold == f, fold != f
        labs_lead = labs_beat_reference(y[train], fold[train], patient[train], labs_raw[train],
                                        reference_raw[train], labs_calibration,
                                        reference_calibration)
        leads += labs_lead
        raw, calibration = ((labs_raw, labs_calibration) if labs_lead
                            else (reference_raw, reference_calibration))
        served[test] = actual_probabilities(raw[train], y[train], raw[test],
                                            calibration["method"], calibration["params"])
    new_onset = np.asarray(grade_today) < NEW_ONSET_BELOW
    return {"all": binary_metrics(y, served, served),
            "new_onset": binary_metrics(y[new_onset], served[new_onset], served[new_onset]),
            "labs_lead_folds": f"{leads} of {len(np.unique(fold))}"}
