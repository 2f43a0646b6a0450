"""A small synthetic cohort shaped like the two sheets (for tests and smoke runs; no real data).

Severe CRS is driven by IL-6, CRP and ferritin rising over the days, so a model can learn it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from predictor.catalogue import FACTORS
from predictor.training.data import COVID_COLUMN_OVERRIDES, COVID_UNIT_FACTORS

# typical raw values (catalogue units) to centre the synthetic factors on
_CENTRE = {f.key: (f.typical[0] + f.typical[1]) / 2 or 1.0 for f in FACTORS}


def cart_frame(n_patients: int = 30, seed: int = 0, min_days: int = 4, max_days: int = 9,
               severe_fraction: float = 0.35) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        days = int(rng.integers(min_days, max_days + 1))
        severe_patient = rng.random() < severe_fraction
        onset = int(rng.integers(2, days)) if severe_patient else None
        for d in range(days):
            drive = 0.0 if onset is None else max(0.0, 1.5 - abs(d - onset) * 0.6)
            grade = 0 if onset is None else (3 if d >= onset and d <= onset + 1 else
                                            int(rng.integers(0, 2)))
            row = {"sex": int(rng.integers(0, 2)), "age": int(rng.integers(10, 70)),
                   "Relative date": d}
            for f in FACTORS:
                v = _CENTRE[f.key] * np.exp(rng.normal(0, 0.3))
                if f.key in ("il6", "crp", "ferritin", "ifn_gamma"):
                    v *= np.exp(2.0 * drive + (1.0 if d + 1 == onset else 0.0))
                if f.is_fraction:
                    v = min(v, 0.99)
                row[f.sheet_column] = v
            row.update({"Tumor burden": 0.01, "dose": 5e6, "Multiline treatment": 3, "CRS": grade})
            rows.append(row)
    return pd.DataFrame(rows)


def covid_frame(n_subjects: int = 80, seed: int = 1) -> pd.DataFrame:
    """COVID-like frame: shared factors only, in the sheet's (partly US conventional) units."""
    rng = np.random.default_rng(seed)
    shared = [f for f in FACTORS if f.panel != 1 or f.key in ("d_dimer", "pct", "pt", "aptt",
                                                                "fibrinogen")]
    shared = [f for f in shared if f.key not in ("hbdh", "prealbumin", "tumor_burden", "bnp",
                                                 "hemoglobin", "uric_acid", "triglyceride", "ggt",
                                                 "alp", "il2", "il4", "il10", "ifn_gamma",
                                                 "il17a")]
    rows = []
    for s in range(n_subjects):
        severity = int(rng.choice([0, 1, 2], p=[0.6, 0.25, 0.15]))
        row = {"Add topic": f"S{s}", "Maximum age of subject": 60, "sex": 1,
               "Biological sample access": 1, "Maximum severity": severity}
        for f in shared:
            v = _CENTRE[f.key] * np.exp(rng.normal(0, 0.3))
            if f.key in ("il6", "crp", "ferritin"):
                v *= np.exp(0.8 * severity)
            if f.key in COVID_UNIT_FACTORS:
                v /= COVID_UNIT_FACTORS[f.key]  # back to the sheet's units
            if f.is_fraction:
                v = min(v, 0.99)
            row[COVID_COLUMN_OVERRIDES.get(f.key, f.sheet_column)] = v
        rows.append(row)
    return pd.DataFrame(rows)
