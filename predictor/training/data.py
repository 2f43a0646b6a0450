"""Reading the two public sheets into catalogue keys and units, and k-day-ahead labels.

CAR-T sheet: one row per patient-day; ``Relative date`` restarts at 0 for each patient, so the
patient id is ``(Relative date == 0).cumsum()``. COVID-19 sheet: ``Add topic`` is the subject id,
``Maximum severity`` (0/1/2) the label; some factors are in US conventional units and are
converted to the CAR-T (SI) units here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from predictor.catalogue import FACTOR_KEYS, FACTORS, combination_factor_keys

SEVERE_GRADE = 3

# COVID-19 sheet columns that differ from the CAR-T column name of the same factor.
COVID_COLUMN_OVERRIDES = {"rbc": "erythrocyte", "neutrophil_count": "neutrophil"}

# Factors the COVID-19 sheet reports in US conventional units: key -> factor to CAR-T (SI) units.
COVID_UNIT_FACTORS = {
    "calcium": 1 / 4.008,      # mg/dL -> mmol/L
    "creatinine": 88.42,       # mg/dL -> umol/L
    "glucose": 1 / 18.016,     # mg/dL -> mmol/L
    "albumin": 10.0,           # g/dL -> g/L
    "fibrinogen": 1 / 100.0,   # mg/dL -> g/L
}

COVID_PATIENT_COLUMN = "Add topic"
COVID_LABEL_COLUMN = "Maximum severity"
CART_DAY_COLUMN = "Relative date"
CART_GRADE_COLUMN = "CRS"


class SheetError(ValueError):
    """A sheet lacks a column the training needs (the message names it)."""


@dataclass
class CartCohort:
    """The CAR-T development cohort, one row per patient-day, in catalogue keys and units."""

    values: pd.DataFrame      # columns = FACTOR_KEYS (catalogue order), float64
    patient: np.ndarray       # int patient id per row
    day: np.ndarray           # int day since infusion per row
    grade: np.ndarray         # int CRS grade that day (0-4)

    @property
    def n_patients(self) -> int:
        return int(len(np.unique(self.patient)))


@dataclass
class HorizonRows:
    """Rows for one horizon k: features of day d, label = severe CRS on day d+k (same patient)."""

    horizon: int
    x: np.ndarray             # [N, 42] float64 raw values, catalogue order
    y: np.ndarray             # [N] int 0/1, severe CRS on day d+k
    patient: np.ndarray       # [N] patient id
    day: np.ndarray           # [N] day d (not a model input; reference rows only)
    grade_today: np.ndarray   # [N] CRS grade on day d (not a model input; reference rows only)

    def columns(self, code: str) -> np.ndarray:
        """The columns of one combination, in catalogue order."""
        keys = combination_factor_keys(code)
        idx = [FACTOR_KEYS.index(k) for k in keys]
        return self.x[:, idx]

    def subset(self, mask_or_index) -> "HorizonRows":
        return HorizonRows(self.horizon, self.x[mask_or_index], self.y[mask_or_index],
                           self.patient[mask_or_index], self.day[mask_or_index],
                           self.grade_today[mask_or_index])

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class CovidCohort:
    """COVID-19 source cohort in catalogue keys and units (only the shared factors are columns)."""

    values: pd.DataFrame      # columns = shared factor keys, catalogue order
    subject: np.ndarray
    severity: np.ndarray      # 0/1/2

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.values.columns)


def _require(df: pd.DataFrame, columns, sheet: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SheetError(f"The {sheet} sheet has no column {missing[0]!r}"
                         + (f" (also missing: {', '.join(map(repr, missing[1:]))})"
                            if len(missing) > 1 else "")
                         + "; read it with pandas.read_excel(path, header=1).")


def _read(source, sheet: str) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{sheet} sheet not found: {path}")
    return pd.read_excel(path, header=1)


def cart_frame_to_cohort(df: pd.DataFrame) -> CartCohort:
    """Map a CAR-T sheet (as read with header=1) to catalogue keys; patient = restart of day 0."""
    needed = [CART_DAY_COLUMN, CART_GRADE_COLUMN] + [f.sheet_column for f in FACTORS]
    _require(df, needed, "CAR-T")
    df = df.dropna(subset=[CART_DAY_COLUMN, CART_GRADE_COLUMN]).reset_index(drop=True)
    values = pd.DataFrame({f.key: pd.to_numeric(df[f.sheet_column], errors="coerce")
                           for f in FACTORS}, dtype="float64")
    if values.isna().any().any():
        # The published sheet has none; fill any with the column median rather than drop the day,
        # so the day sequence of a patient stays intact for label shifting.
        values = values.fillna(values.median())
    day = df[CART_DAY_COLUMN].astype(int).to_numpy()
    patient = (df[CART_DAY_COLUMN] == 0).cumsum().to_numpy().astype(int)
    grade = df[CART_GRADE_COLUMN].astype(int).to_numpy()
    return CartCohort(values, patient, day, grade)


def load_cart(source) -> CartCohort:
    """Read CAR-T.xlsx (path) or an already-read frame."""
    return cart_frame_to_cohort(_read(source, "CAR-T"))


def horizon_rows(cohort: CartCohort, horizon: int) -> HorizonRows:
    """k-day-ahead rows: features of day d, label = grade >= 3 on day d+k of the SAME patient.

    Matching is by (patient, day index), so a patient's last k days (no day d+k) are dropped and
    labels never cross patients; a gap in a patient's days just drops the rows that lack d+k.
    """
    if horizon < 1:
        raise ValueError("horizon must be >= 1")
    severe_by_day = {(int(p), int(d)): int(g >= SEVERE_GRADE)
                     for p, d, g in zip(cohort.patient, cohort.day, cohort.grade)}
    keep, labels = [], []
    for i, (p, d) in enumerate(zip(cohort.patient, cohort.day)):
        target = severe_by_day.get((int(p), int(d) + horizon))
        if target is not None:
            keep.append(i)
            labels.append(target)
    keep = np.asarray(keep, dtype=int)
    return HorizonRows(horizon, cohort.values.to_numpy(dtype=np.float64)[keep],
                       np.asarray(labels, dtype=int), cohort.patient[keep], cohort.day[keep],
                       cohort.grade[keep])


def covid_frame_to_cohort(df: pd.DataFrame) -> CovidCohort:
    """Map a COVID-19 sheet to the catalogue factors it shares with CAR-T, in SI units."""
    _require(df, [COVID_PATIENT_COLUMN, COVID_LABEL_COLUMN], "COVID-19")
    keys, cols = [], []
    for f in FACTORS:
        col = COVID_COLUMN_OVERRIDES.get(f.key, f.sheet_column)
        if col in df.columns:
            keys.append(f.key)
            cols.append(col)
    if not keys:
        raise SheetError("The COVID-19 sheet shares no factor column with the catalogue.")
    df = df.dropna(subset=[COVID_LABEL_COLUMN] + cols).reset_index(drop=True)
    values = pd.DataFrame({k: pd.to_numeric(df[c], errors="coerce") for k, c in zip(keys, cols)},
                          dtype="float64")
    for key, factor in COVID_UNIT_FACTORS.items():
        if key in values:
            values[key] = values[key] * factor
    ok = ~values.isna().any(axis=1)
    values = values[ok].reset_index(drop=True)
    return CovidCohort(values, df.loc[ok, COVID_PATIENT_COLUMN].to_numpy(),
                       df.loc[ok, COVID_LABEL_COLUMN].astype(int).to_numpy())


def load_covid(source) -> CovidCohort:
    """Read COVID-19.xlsx (path) or an already-read frame."""
    return covid_frame_to_cohort(_read(source, "COVID-19"))


def covid_matrix(covid: CovidCohort, code: str) -> tuple[np.ndarray, np.ndarray]:
    """COVID rows laid out as a combination's input ([N, n], catalogue order), with a mask of
    which positions the COVID sheet actually has (the others are NaN, filled by the trainer)."""
    keys = combination_factor_keys(code)
    x = np.full((len(covid.values), len(keys)), np.nan)
    present = np.zeros(len(keys), dtype=bool)
    for j, key in enumerate(keys):
        if key in covid.values:
            x[:, j] = covid.values[key].to_numpy()
            present[j] = True
    return x, present


def default_data_dir() -> Path:
    """``../shared/data/prcrs-public/`` relative to the repository root."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "prcrs-public"


def compare_distributions(cart: CartCohort, covid: CovidCohort) -> list[dict]:
    """Median and IQR of every shared factor in both cohorts (after unit conversion), with the
    ratio of medians: the check that the COVID-19 units now match the CAR-T units."""
    out = []
    for key in covid.keys:
        a, b = cart.values[key], covid.values[key]
        out.append({"key": key, "cart_median": float(a.median()),
                    "cart_iqr": (float(a.quantile(0.25)), float(a.quantile(0.75))),
                    "covid_median": float(b.median()),
                    "covid_iqr": (float(b.quantile(0.25)), float(b.quantile(0.75))),
                    "ratio": float(b.median() / a.median()) if a.median() else float("nan")})
    return out
