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

from predictor.catalogue import FACTOR_KEYS, FACTORS, FACTORS_BY_KEY, combination_factor_keys

SEVERE_GRADE = 3

# --- sheet artefacts (see models_store/README.md, "Chloride and sodium") ------------------------
# The sheet's ``chlorine`` column is not chloride for 89 % of the rows (values about 15 mmol/L,
# where living patients have 95-110), and the 11 % of rows with chloride-like values have 2-3
# times the severe rate, so a model would learn "real chloride = danger". No model may use it:
# the column is replaced by one constant (the middle of the typical range) before training, and
# the exported files pin it to the same constant (``UnusedFactors``), so a physician's real
# chloride cannot move a prediction.
UNUSED_FACTOR_KEYS: tuple[str, ...] = ("chloride",)
NEUTRAL_VALUES: dict[str, float] = {"chloride": 102.0}
UNUSED_FACTOR_NOTE = {
    "en": ("Chloride is accepted but not used: in the training sheet most chloride values are not "
           "chloride (about 15 mmol/L), so the model was trained without it."),
    "zh-hans": "氯可以填写但模型不使用：训练数据中大多数氯的数值并非氯离子浓度（约 15 mmol/L），"
               "因此模型训练时未使用该指标。",
}

# Sodium: about 8 % of the sheet's values are about 14 mmol/L, a factor-10 slip (139 written as
# 13.9). The fix is applied only where the slip is certain: a value below 30 mmol/L is impossible
# in a living patient, and it is multiplied by 10 only when the result lands inside the
# catalogue's plausible range (hard limits 90-200 mmol/L). Any other value below the hard lower
# limit (1.43, 2.33 and 38 in the public sheet) is not a certain slip; it is treated as missing
# (the median of the corrected column), never guessed.
SODIUM_SLIP_BELOW = 30.0


# --- cleaning rules (docs/training-data.md is written from these by ``cleaning_markdown``) ----
# Training must never learn from a value the site itself would refuse: every rule below either
# undoes a certain unit slip or turns an impossible value into "missing" (the median of the
# cleaned column, as the served files impute a missing lab). Limits are the catalogue's default
# hard limits (``predictor.catalogue``), the same ones the site refuses values with.


def _unit(key: str) -> str:
    factor = FACTORS_BY_KEY[key]
    return "(fraction)" if factor.is_fraction else factor.unit


@dataclass(frozen=True)
class SlipRule:
    """A value below ``below`` in ``unit`` is the same quantity written in a unit ten times
    larger (e.g. g/dL for g/L); it is multiplied by 10 only where the result is within the
    factor's hard limits. Anything else below the hard limit is left to ``HardLimitRule``."""

    key: str
    below: float
    why: str
    factor: float = 10.0

    @property
    def name(self) -> str:
        return f"{self.key}_unit_slip"

    def describe(self) -> str:
        low, high = FACTORS_BY_KEY[self.key].hard
        unit = _unit(self.key)
        return (f"{self.key} < {self.below:g} {unit}: {self.why}; multiplied by "
                f"{self.factor:g} where the result is within {low:g}-{high:g} {unit}")

    def apply(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        low, high = FACTORS_BY_KEY[self.key].hard
        hit = (v < self.below) & (v * self.factor >= low) & (v * self.factor <= high)
        return np.where(hit, v * self.factor, v), hit


@dataclass(frozen=True)
class ImpossibleBelowRule:
    """A value below ``below`` is another quantity (e.g. an INR typed as a prothrombin time):
    not a certain slip, so it is missing, never converted."""

    key: str
    below: float
    why: str

    @property
    def name(self) -> str:
        return f"{self.key}_impossible"

    def describe(self) -> str:
        return f"{self.key} < {self.below:g} {_unit(self.key)}: {self.why}; set to missing"

    def apply(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hit = v < self.below
        return np.where(hit, np.nan, v), hit


@dataclass(frozen=True)
class HardLimitRule:
    """Any value still outside the factor's hard limits (what the site refuses) is missing."""

    key: str

    @property
    def name(self) -> str:
        return f"{self.key}_outside_hard_limits"

    def describe(self) -> str:
        low, high = FACTORS_BY_KEY[self.key].hard
        unit = _unit(self.key)
        return (f"{self.key} outside the site's hard limits {low:g}-{high:g} {unit} (after the "
                "rules above): the site would refuse it; set to missing")

    def apply(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        low, high = FACTORS_BY_KEY[self.key].hard
        hit = (v < low) | (v > high)
        return np.where(hit, np.nan, v), hit


# Order matters: the certain slips first, then the named impossible values, then what is left
# outside the hard limits. Unused factors (chloride) are replaced wholesale and skip the rules.
CLEANING_RULES: tuple = (
    SlipRule("sodium", SODIUM_SLIP_BELOW, "impossible in a living patient, a factor-10 slip "
             "(139 written as 13.9)"),
    SlipRule("albumin", 5.0, "g/dL written where g/L is expected (3.5 g/dL = 35 g/L)"),
    SlipRule("hemoglobin", 10.0, "g/dL written where g/L is expected (9 g/dL = 90 g/L)"),
    ImpossibleBelowRule("pt", 5.0, "an INR typed as the prothrombin time in seconds"),
    ImpossibleBelowRule("aptt", 10.0, "not a clotting time in seconds (ratio or typo)"),
    ImpossibleBelowRule("creatinine", 5.0, "not umol/L (mg/dL or a typo)"),
) + tuple(HardLimitRule(f.key) for f in FACTORS if f.key not in UNUSED_FACTOR_KEYS)


def clean_values(values: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Apply ``CLEANING_RULES`` in order. Returns (cleaned frame, NaN where a value is now
    missing; per rule name, the mask of rows it changed). The caller fills the NaN."""
    out = values.copy()
    hits: dict[str, np.ndarray] = {}
    for rule in CLEANING_RULES:
        if rule.key not in out:
            continue
        fixed, hit = rule.apply(out[rule.key].to_numpy(dtype=np.float64))
        out[rule.key] = fixed
        hits[rule.name] = hit
    return out, hits


def cleaning_counts(hits: dict[str, np.ndarray]) -> list[dict]:
    """One entry per rule (rules that touched no row included): name, description, rows."""
    return [{"rule": r.name, "key": r.key, "what": r.describe(),
             "rows": int(hits[r.name].sum()) if r.name in hits else 0} for r in CLEANING_RULES]


def cleaning_markdown(counts: list[dict], n_rows: int, source: str) -> str:
    """docs/training-data.md: every rule with the patient-days it changed (written by code)."""
    lines = [
        "# Training data: cleaning rules",
        "",
        "Written by `predictor.training.data.cleaning_markdown` (run by `manage.py train_models`, "
        "or `manage.py training_data_report`); do not edit by hand.",
        "",
        "The site refuses a value outside a factor's hard limits (`predictor/catalogue.py`), so "
        "the models must never learn from one. Each rule either undoes a certain unit slip or "
        "makes an impossible value missing; a missing value is the median of the cleaned column "
        "(as the served files impute a missing lab). Rules apply in this order; chloride is not "
        "cleaned but replaced by a constant (see models_store/README.md, \"Chloride and sodium\").",
        "",
        f"Sheet: {source}, {n_rows} patient-days.",
        "",
        "| rule | what | patient-days changed |",
        "|---|---|---|",
    ]
    lines += [f"| `{c['rule']}` | {c['what']} | {c['rows']} |" for c in counts]
    lines.append("")
    return "\n".join(lines)


def write_cleaning_doc(counts: list[dict], n_rows: int, source: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(cleaning_markdown(counts, n_rows, source), encoding="utf-8")


def cleaning_doc_path() -> Path:
    """docs/training-data.md of this checkout."""
    return Path(__file__).resolve().parents[2] / "docs" / "training-data.md"


def fix_sodium(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sodium rule above. Returns (fixed values, mask of x10 rows, mask of rows set missing
    (NaN in the fixed values, for the caller to fill))."""
    v = np.asarray(values, dtype=np.float64)
    fixed, slip = CLEANING_RULES[0].apply(v)
    fixed, missing = HardLimitRule("sodium").apply(fixed)
    return fixed, slip, missing


def neutralise_unused(values: pd.DataFrame) -> pd.DataFrame:
    """The frame with every unused factor replaced by its neutral constant."""
    values = values.copy()
    for key in UNUSED_FACTOR_KEYS:
        if key in values:
            values[key] = NEUTRAL_VALUES[key]
    return values


def unused_in(code: str) -> list[str]:
    """The unused factor keys a combination's input contains (catalogue order)."""
    return [k for k in combination_factor_keys(code) if k in UNUSED_FACTOR_KEYS]

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

    values: pd.DataFrame      # columns = FACTOR_KEYS (catalogue order), float64, as trained on
    patient: np.ndarray       # int patient id per row
    day: np.ndarray           # int day since infusion per row
    grade: np.ndarray         # int CRS grade that day (0-4)
    sheet_values: pd.DataFrame | None = None  # the sheet's values before the artefact fixes
    sodium_slip: np.ndarray | None = None     # bool per row: sodium multiplied by 10
    sodium_missing: np.ndarray | None = None  # bool per row: impossible sodium set to the median
    cleaning: list[dict] | None = None        # per cleaning rule, the rows it changed

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
    day: np.ndarray           # [N] day d (context models' input, with the grade)
    grade_today: np.ndarray   # [N] CRS grade on day d
    x_sheet: np.ndarray | None = None      # [N, 42] the sheet's values before the fixes
    sodium_slip: np.ndarray | None = None  # [N] bool: the sheet's sodium was a x10 slip

    def columns(self, code: str, sheet: bool = False) -> np.ndarray:
        """The columns of one combination, in catalogue order (``sheet``: before the fixes)."""
        keys = combination_factor_keys(code)
        idx = [FACTOR_KEYS.index(k) for k in keys]
        x = self.x_sheet if sheet and self.x_sheet is not None else self.x
        return x[:, idx]

    def context_columns(self, code: str) -> np.ndarray:
        """A context model's input: the combination's lab columns, then crs_grade and day
        (``predictor.catalogue.CONTEXT_KEYS`` order)."""
        return np.hstack([self.columns(code), self.grade_today[:, None].astype(np.float64),
                          self.day[:, None].astype(np.float64)])

    def subset(self, mask_or_index) -> "HorizonRows":
        pick = lambda a: None if a is None else a[mask_or_index]  # noqa: E731
        return HorizonRows(self.horizon, self.x[mask_or_index], self.y[mask_or_index],
                           self.patient[mask_or_index], self.day[mask_or_index],
                           self.grade_today[mask_or_index], pick(self.x_sheet),
                           pick(self.sodium_slip))

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
    sheet_values = values.copy()
    values, hits = clean_values(values)
    missing = hits["sodium_outside_hard_limits"]
    values = values.fillna(values.median())
    values = neutralise_unused(values)
    day = df[CART_DAY_COLUMN].astype(int).to_numpy()
    patient = (df[CART_DAY_COLUMN] == 0).cumsum().to_numpy().astype(int)
    grade = df[CART_GRADE_COLUMN].astype(int).to_numpy()
    return CartCohort(values, patient, day, grade, sheet_values, hits["sodium_unit_slip"],
                      missing, cleaning_counts(hits))


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
    sheet = None if cohort.sheet_values is None else \
        cohort.sheet_values.to_numpy(dtype=np.float64)[keep]
    slip = None if cohort.sodium_slip is None else cohort.sodium_slip[keep]
    return HorizonRows(horizon, cohort.values.to_numpy(dtype=np.float64)[keep],
                       np.asarray(labels, dtype=int), cohort.patient[keep], cohort.day[keep],
                       cohort.grade[keep], sheet, slip)


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
        if key in UNUSED_FACTOR_KEYS:
            x[:, j] = NEUTRAL_VALUES[key]  # unused everywhere, pre-training included
            present[j] = True
        elif key in covid.values:
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
    cart_values = cart.sheet_values if cart.sheet_values is not None else cart.values
    for key in covid.keys:
        a, b = cart_values[key], covid.values[key]
        out.append({"key": key, "cart_median": float(a.median()),
                    "cart_iqr": (float(a.quantile(0.25)), float(a.quantile(0.75))),
                    "covid_median": float(b.median()),
                    "covid_iqr": (float(b.quantile(0.25)), float(b.quantile(0.75))),
                    "ratio": float(b.median() / a.median()) if a.median() else float("nan")})
    return out
