"""Local validation of the active models on a centre's own cohort sheet (spec section 9).

Given, per horizon, one row per patient-day with the served (calibrated) probability, the raw
model score, the outcome (severe CRS on day d + k, or unknown) and, on the same rows, the no-lab
reference's probability, this module computes what a centre needs before trusting the models:
AUROC, AUPRC, Brier score and a calibration curve, each with a 95 % bootstrap interval, for the
models and the reference side by side, plus their paired difference.

Decisions (the spec leaves them open):

- The bootstrap resamples PATIENTS with replacement: a drawn patient brings all of its days.
  Days of one patient are strongly correlated, so resampling days would give intervals that are
  too narrow. Each resample is a weight per patient (how often it was drawn); every figure is a
  weighted figure, which keeps the whole bootstrap a handful of numpy operations.
- The models and the reference are scored on exactly the same rows and the same resamples
  (a paired bootstrap), so "labs minus reference" has its own honest interval.
- AUROC and AUPRC rank the calibrated probability, the number the site serves. In a cohort,
  different rows are served by different panel combinations whose raw scores live on different
  scales; the calibrated probabilities share one scale. The raw-score figures are given as
  ``auroc_raw``/``auprc_raw``/``brier_raw`` (comparable with a model card when one combination
  serves every row). Ties count one half (the Mann-Whitney convention; average precision groups
  tied scores into one threshold, as scikit-learn does).
- Calibration curve: ``bins`` (default 10) equal-width bins of the calibrated probability on
  [0, 1]; per bin the mean predicted probability against the observed severe rate, with counts,
  and the observed rate's bootstrap interval. Ten bins match the training report's calibration
  error; sparse bins show as wide whiskers, empty bins carry ``n = 0`` and no figures.
- Intervals are bootstrap percentiles (2.5 % and 97.5 %) over the resamples where the figure is
  defined (a resample may draw no severe day); ``resamples`` says how many that was.
- A figure that cannot be computed says why (``undefined``) instead of raising.

Reason codes (stable strings for the JSON API; ``UNSCORED_REASONS`` and ``UNDEFINED_REASONS``
give their texts in the user's language).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Hashable, Iterable, Sequence

import numpy as np
from scipy import sparse
from django.utils.translation import gettext_lazy as _

DEFAULT_RESAMPLES = 1000
DEFAULT_BINS = 10
CONFIDENCE = 0.95
SEVERE_GRADE = 3
# Row weights of at most this many elements are built at once (resamples x rows), so 1,000
# resamples of 10,000 rows need tens of MB, not hundreds.
_CHUNK_ELEMENTS = 2_000_000

# Why a row could not be scored. Callers may pass their own codes (e.g. from the serving core);
# these are the ones this module and outcomes_from_course produce.
OUTCOME_DAY_MISSING = "outcome_day_missing"
OUTCOME_GRADE_MISSING = "outcome_grade_missing"
OUTCOME_UNKNOWN = "outcome_unknown"
NO_PREDICTION = "no_prediction"
NO_REFERENCE = "no_reference"
UNSCORED_REASONS = {
    OUTCOME_DAY_MISSING: _("the sheet has no row for the day the outcome falls on"),
    OUTCOME_GRADE_MISSING: _("the CRS grade of the day the outcome falls on is empty"),
    OUTCOME_UNKNOWN: _("the outcome is unknown"),
    NO_PREDICTION: _("the models gave no prediction for this row"),
    NO_REFERENCE: _("the reference without lab values gave no prediction for this row"),
}

# Why a figure (or only its interval) is undefined.
NO_ROWS = "no_rows"
NO_SEVERE = "no_severe"
NO_NON_SEVERE = "no_non_severe"
TOO_FEW_PATIENTS = "too_few_patients"
UNDEFINED_IN_RESAMPLES = "undefined_in_every_resample"
NO_RESAMPLES = "no_resamples"
EMPTY_BIN = "empty_bin"
UNDEFINED_REASONS = {
    NO_ROWS: _("no row could be scored"),
    NO_SEVERE: _("no scored day was followed by severe CRS"),
    NO_NON_SEVERE: _("every scored day was followed by severe CRS"),
    TOO_FEW_PATIENTS: _("an interval needs at least two patients"),
    UNDEFINED_IN_RESAMPLES: _("the figure is undefined in every bootstrap resample"),
    NO_RESAMPLES: _("no bootstrap resample was asked for"),
    EMPTY_BIN: _("no scored day falls in this range"),
}


# ----------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class CourseOutcomes:
    """Per day of one course: the label (1 severe, 0 not, None unknown), why a label is
    unknown, and whether the day is new-onset (today's grade known and below 3)."""

    labels: tuple[int | None, ...]
    reasons: tuple[str | None, ...]
    new_onset: tuple[bool, ...]


def outcomes_from_course(*, days: Sequence[int], grades: Sequence[int | None],
                         horizon: int) -> CourseOutcomes:
    """Label each day of one patient's course for ``horizon`` k.

    The label of day d is ``grade >= 3`` on day d + k of the same patient when that day is in
    the sheet and its grade is filled in; otherwise it is None with the reason
    (``outcome_day_missing``: the sheet skips that day or ends before it;
    ``outcome_grade_missing``: the day is there but its grade is empty). Days need not be sorted
    but must not repeat. Raises ValueError for repeated days, a grade outside 0-4 or a horizon
    below 1 (the sheet parser refuses those before this is called).
    """
    if len(days) != len(grades):
        raise ValueError(f"{len(days)} days but {len(grades)} grades")
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1, got {horizon}")
    grade_of: dict[int, int | None] = {}
    for day, grade in zip(days, grades):
        if day in grade_of:
            raise ValueError(f"day {day} appears twice")
        if grade is not None and not 0 <= grade <= 4:
            raise ValueError(f"CRS grade {grade} of day {day} is not between 0 and 4")
        grade_of[day] = grade
    labels, reasons = [], []
    for day in days:
        target = day + horizon
        if target not in grade_of:
            labels.append(None)
            reasons.append(OUTCOME_DAY_MISSING)
        elif grade_of[target] is None:
            labels.append(None)
            reasons.append(OUTCOME_GRADE_MISSING)
        else:
            labels.append(int(grade_of[target] >= SEVERE_GRADE))
            reasons.append(None)
    new_onset = tuple(g is not None and g < SEVERE_GRADE for g in grades)
    return CourseOutcomes(tuple(labels), tuple(reasons), new_onset)


# ----------------------------------------------------------------------------- input / output


@dataclass(frozen=True)
class HorizonRows:
    """What the serving core produced for one horizon, one entry per patient-day.

    ``probability``/``raw_probability``: the active models' calibrated and raw probability
    (None or NaN where no model could score the row); ``outcome``: 1, 0 or None (or NaN);
    ``reference_probability``/``reference_raw_probability``: the no-lab reference on the same
    rows, or None altogether when no reference is available (then ``reference_missing`` may say
    why, as a reason code). ``outcome_reasons``/``prediction_reasons``: optional per-row codes
    saying why the outcome or the prediction is missing (more specific than the defaults).
    ``new_onset``: optional per-row flag (today's grade below 3) for the new-onset subset.
    """

    horizon: int
    patients: Sequence[Hashable]
    probability: Sequence[float | None]
    raw_probability: Sequence[float | None]
    outcome: Sequence[int | None]
    reference_probability: Sequence[float | None] | None = None
    reference_raw_probability: Sequence[float | None] | None = None
    outcome_reasons: Sequence[str | None] | None = None
    prediction_reasons: Sequence[str | None] | None = None
    new_onset: Sequence[bool] | None = None
    reference_missing: str | None = None


@dataclass(frozen=True)
class Estimate:
    """A figure with its bootstrap 95 % interval. ``value`` is None when undefined (``undefined``
    says why); ``low``/``high`` are None when no interval exists (``interval_undefined``)."""

    value: float | None
    low: float | None = None
    high: float | None = None
    resamples: int = 0
    undefined: str | None = None
    interval_undefined: str | None = None


@dataclass(frozen=True)
class CalibrationBin:
    low: float
    high: float
    n: int
    severe: int
    patients: int
    mean_probability: float | None
    observed: Estimate


@dataclass(frozen=True)
class Counts:
    rows: int
    patients: int
    severe_rows: int
    severe_patients: int


@dataclass(frozen=True)
class Figures:
    """One scorer (the active models or the reference) on one set of rows."""

    auroc: Estimate
    auprc: Estimate
    brier: Estimate
    auroc_raw: Estimate
    auprc_raw: Estimate
    brier_raw: Estimate
    mean_probability: Estimate
    observed_rate: Estimate
    calibration: tuple[CalibrationBin, ...]


@dataclass(frozen=True)
class Difference:
    """Models minus reference, paired on the same rows and resamples (AUROC/AUPRC: higher is
    better for the models; Brier: lower is better)."""

    auroc: Estimate
    auprc: Estimate
    brier: Estimate


@dataclass(frozen=True)
class SubsetReport:
    counts: Counts
    models: Figures
    reference: Figures | None
    difference: Difference | None


@dataclass(frozen=True)
class HorizonReport:
    horizon: int
    rows_total: int
    rows_scored: int
    unscored: dict[str, int]
    reference_missing: str | None
    all_rows: SubsetReport
    new_onset: SubsetReport | None


@dataclass(frozen=True)
class CohortReport:
    horizons: tuple[HorizonReport, ...]
    seed: int
    resamples: int
    bins: int
    confidence: float = CONFIDENCE
    resampling_unit: str = field(default="patient")

    def to_dict(self) -> dict:
        """Plain JSON-ready data (lists, dicts, floats, ints, strings, None; never NaN)."""
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- entry points


def validate_cohort(*, horizons: Iterable[HorizonRows], seed: int = 0,
                    resamples: int = DEFAULT_RESAMPLES, bins: int = DEFAULT_BINS) -> CohortReport:
    """Validate every horizon's rows; the same ``seed`` gives the same intervals. Pure."""
    reports = tuple(validate_horizon(rows=h, seed=seed, resamples=resamples, bins=bins)
                    for h in horizons)
    return CohortReport(horizons=reports, seed=seed, resamples=resamples, bins=bins)


def validate_horizon(*, rows: HorizonRows, seed: int = 0, resamples: int = DEFAULT_RESAMPLES,
                     bins: int = DEFAULT_BINS) -> HorizonReport:
    """The report of one horizon: which rows are scored (and why the others are not), and the
    figures of the models and the reference on all scored rows and on the new-onset subset.
    Raises ValueError for inconsistent input (lengths, probabilities outside [0, 1], outcomes
    other than 0/1/None), which is a programming error, not a user's."""
    if resamples < 0:
        raise ValueError("resamples must not be negative")
    if bins < 1:
        raise ValueError("bins must be at least 1")
    n = len(rows.patients)
    prob = _probabilities(rows.probability, n, "probability")
    raw = _probabilities(rows.raw_probability, n, "raw_probability")
    outcome = _outcomes(rows.outcome, n)
    has_reference = rows.reference_probability is not None
    ref = ref_raw = None
    if has_reference:
        ref = _probabilities(rows.reference_probability, n, "reference_probability")
        ref_raw = (_probabilities(rows.reference_raw_probability, n, "reference_raw_probability")
                   if rows.reference_raw_probability is not None else ref)
    outcome_reasons = _optional(rows.outcome_reasons, n, "outcome_reasons")
    prediction_reasons = _optional(rows.prediction_reasons, n, "prediction_reasons")
    new_onset = _optional(rows.new_onset, n, "new_onset")

    unscored: Counter[str] = Counter()
    scored = np.zeros(n, bool)
    for i in range(n):
        reason = None
        if np.isnan(outcome[i]):
            reason = outcome_reasons[i] or OUTCOME_UNKNOWN
        elif np.isnan(prob[i]) or np.isnan(raw[i]):
            reason = prediction_reasons[i] or NO_PREDICTION
        elif has_reference and (np.isnan(ref[i]) or np.isnan(ref_raw[i])):
            reason = NO_REFERENCE
        if reason is None:
            scored[i] = True
        else:
            unscored[reason] += 1

    # Patients are numbered among the scored rows only: a patient with no scored day cannot
    # carry anything into a resample.
    number: dict[Hashable, int] = {}
    pid = np.array([number.setdefault(rows.patients[i], len(number))
                    for i in np.flatnonzero(scored)], int)
    n_patients = len(number)
    weights = _patient_weights(n_patients, resamples, np.random.default_rng(seed))

    data = _Scored(pid=pid, outcome=outcome[scored].astype(int), prob=prob[scored],
                   raw=raw[scored], ref=ref[scored] if has_reference else None,
                   ref_raw=ref_raw[scored] if has_reference else None)
    all_rows = _subset_report(data, np.ones(len(pid), bool), weights, bins)
    onset = None
    if rows.new_onset is not None:
        mask = np.array([bool(new_onset[i]) for i in np.flatnonzero(scored)], bool)
        onset = _subset_report(data, mask, weights, bins)
    return HorizonReport(
        horizon=rows.horizon, rows_total=n, rows_scored=int(scored.sum()),
        unscored=dict(sorted(unscored.items(), key=lambda kv: (-kv[1], kv[0]))),
        reference_missing=None if has_reference else rows.reference_missing,
        all_rows=all_rows, new_onset=onset)


# ----------------------------------------------------------------------------- input checks


def _probabilities(values, n: int, name: str) -> np.ndarray:
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries, expected {n}")
    out = np.array([np.nan if v is None else float(v) for v in values], float)
    bad = ~np.isnan(out) & ((out < 0) | (out > 1) | ~np.isfinite(out))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{i}] = {out[i]} is not a probability")
    return out


def _outcomes(values, n: int) -> np.ndarray:
    if len(values) != n:
        raise ValueError(f"outcome has {len(values)} entries, expected {n}")
    out = np.full(n, np.nan)
    for i, v in enumerate(values):
        if v is None or isinstance(v, float) and np.isnan(v):  # NaN: unknown, as None
            continue
        if v not in (0, 1):
            raise ValueError(f"outcome[{i}] = {v!r} is not 0, 1 or None")
        out[i] = int(v)
    return out


def _optional(values, n: int, name: str) -> Sequence:
    if values is None:
        return [None] * n
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries, expected {n}")
    return values


# ----------------------------------------------------------------------------- bootstrap engine


@dataclass(frozen=True)
class _Scored:
    pid: np.ndarray  # patient number of each scored row
    outcome: np.ndarray
    prob: np.ndarray
    raw: np.ndarray
    ref: np.ndarray | None
    ref_raw: np.ndarray | None


def _patient_weights(n_patients: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Row 0: every patient once (the point estimate); rows 1..: how often each patient was
    drawn in each resample of ``n_patients`` draws with replacement."""
    if n_patients == 0:
        return np.ones((1, 0))
    draws = rng.integers(0, n_patients, size=(resamples, n_patients))
    offsets = (np.arange(resamples) * n_patients)[:, None]
    counts = np.bincount((draws + offsets).ravel(), minlength=resamples * n_patients)
    return np.vstack([np.ones(n_patients), counts.reshape(resamples, n_patients)]).astype(float)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(np.shape(num), np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _ranking(weights: np.ndarray, pid: np.ndarray, y: np.ndarray,
             score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted AUROC and average precision for every row of ``weights`` (NaN where undefined).

    Only the distinct scores that some severe day has matter: AUROC needs, at each of them,
    the non-severe weight below and tied (rank formula, ties one half); average precision the
    precision there (scikit-learn's definition: tied scores are one threshold). Every
    non-severe day is assigned to the first such score at or below its own, so sparse
    (patients x severe scores) counts turn each resample's patient weights into those sums
    with one product and a cumulative sum over the severe scores, not over every row.
    """
    rows = len(weights)
    if len(score) == 0 or not y.any():
        return np.full(rows, np.nan), np.full(rows, np.nan)
    _, group = np.unique(-score, return_inverse=True)  # group 0 = highest score
    hit_groups = np.unique(group[y == 1])
    k = len(hit_groups)
    segment = np.searchsorted(hit_groups, group)  # first severe score at or below; k = none
    shape = (weights.shape[1], k + 1)
    is_pos, is_neg = y == 1, y == 0
    tied = is_neg & (segment < k)
    tied &= hit_groups[np.minimum(segment, k - 1)] == group

    def counts(mask: np.ndarray) -> sparse.csr_matrix:
        return sparse.csr_matrix((np.ones(int(mask.sum())), (pid[mask], segment[mask])),
                                 shape=shape)

    severe, other, other_tied = counts(is_pos), counts(is_neg), counts(tied)
    auroc, auprc = np.empty(rows), np.empty(rows)
    step = max(1, _CHUNK_ELEMENTS // (k + 1))
    for a in range(0, rows, step):
        w = weights[a:a + step]
        pos = np.asarray((severe.T @ w.T).T)[:, :k]
        neg = np.asarray((other.T @ w.T).T)
        tie = np.asarray((other_tied.T @ w.T).T)[:, :k]
        cum_neg = np.cumsum(neg[:, :k], axis=1)
        total_neg = neg.sum(axis=1)
        cum_pos = np.cumsum(pos, axis=1)
        total_pos = cum_pos[:, -1]
        below = total_neg[:, None] - cum_neg  # non-severe weight with a strictly lower score
        auroc[a:a + step] = _ratio((pos * (below + 0.5 * tie)).sum(axis=1), total_pos * total_neg)
        precision = _ratio(cum_pos, cum_pos + cum_neg)
        gained = (pos * np.nan_to_num(precision)).sum(axis=1)
        auprc[a:a + step] = _ratio(gained, total_pos)
    return auroc, auprc


def _estimate(values: np.ndarray, *, undefined: str | None, n_patients: int) -> Estimate:
    """Point (values[0]) and percentile interval over the defined resamples (values[1:])."""
    point = values[0]
    if undefined is not None or np.isnan(point):
        return Estimate(value=None, undefined=undefined or NO_ROWS)
    boot = values[1:][~np.isnan(values[1:])]
    if n_patients < 2:
        return Estimate(value=float(point), interval_undefined=TOO_FEW_PATIENTS)
    if len(values) == 1:
        return Estimate(value=float(point), interval_undefined=NO_RESAMPLES)
    if len(boot) == 0:
        return Estimate(value=float(point), interval_undefined=UNDEFINED_IN_RESAMPLES)
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(boot, [tail, 1 - tail])
    return Estimate(value=float(point), low=float(low), high=float(high), resamples=len(boot))


def _figures(data: _Scored, mask: np.ndarray, weights: np.ndarray, present: int, bins: int,
             prob: np.ndarray, raw: np.ndarray) -> tuple[Figures, dict[str, np.ndarray]]:
    """The figures of one scorer on the rows in ``mask``; ``present`` is how many patients
    have a row there (an interval needs two)."""
    n_patients = weights.shape[1]
    pid, y = data.pid[mask], data.outcome[mask]
    p, r = prob[mask], raw[mask]
    severe, rows = int(y.sum()), len(y)
    rank_reason = (NO_ROWS if rows == 0 else NO_SEVERE if severe == 0
                   else NO_NON_SEVERE if severe == rows else None)
    ap_reason = NO_ROWS if rows == 0 else NO_SEVERE if severe == 0 else None
    brier_reason = NO_ROWS if rows == 0 else None

    auroc, auprc = _ranking(weights, pid, y, p)
    auroc_raw, auprc_raw = (auroc, auprc) if np.array_equal(p, r) else _ranking(weights, pid, y, r)

    # Every other figure is a ratio of per-patient sums: one (patients x sums) matrix, one
    # product with the resamples' weights.
    which = np.minimum((p * bins).astype(int), bins - 1)
    in_bin = which[:, None] == np.arange(bins)[None, :]
    columns = np.column_stack([np.ones(rows), (p - y) ** 2, (r - y) ** 2, p, y,
                               in_bin, in_bin * y[:, None]]).astype(float)
    per_patient = np.zeros((n_patients, columns.shape[1]))
    np.add.at(per_patient, pid, columns)
    sums = weights @ per_patient
    n_rows = sums[:, 0]
    brier, brier_raw = _ratio(sums[:, 1], n_rows), _ratio(sums[:, 2], n_rows)
    mean_p, observed = _ratio(sums[:, 3], n_rows), _ratio(sums[:, 4], n_rows)

    edges = np.linspace(0.0, 1.0, bins + 1)
    curve = []
    for b in range(bins):
        count, hits = sums[:, 5 + b], sums[:, 5 + bins + b]
        members = in_bin[:, b]
        n_bin = int(members.sum())
        curve.append(CalibrationBin(
            low=float(edges[b]), high=float(edges[b + 1]), n=n_bin,
            severe=int(y[members].sum()), patients=len(np.unique(pid[members])),
            mean_probability=float(p[members].mean()) if n_bin else None,
            observed=_estimate(_ratio(hits, count), undefined=None if n_bin else EMPTY_BIN,
                               n_patients=present)))

    def est(values, reason):
        return _estimate(values, undefined=reason, n_patients=present)

    figures = Figures(
        auroc=est(auroc, rank_reason), auprc=est(auprc, ap_reason), brier=est(brier, brier_reason),
        auroc_raw=est(auroc_raw, rank_reason), auprc_raw=est(auprc_raw, ap_reason),
        brier_raw=est(brier_raw, brier_reason), mean_probability=est(mean_p, brier_reason),
        observed_rate=est(observed, brier_reason), calibration=tuple(curve))
    reasons = {"auroc": rank_reason, "auprc": ap_reason, "brier": brier_reason}
    return figures, {"auroc": auroc, "auprc": auprc, "brier": brier, "reasons": reasons}


def _subset_report(data: _Scored, mask: np.ndarray, weights: np.ndarray,
                   bins: int) -> SubsetReport:
    pid, y = data.pid[mask], data.outcome[mask]
    counts = Counts(rows=int(mask.sum()), patients=len(np.unique(pid)), severe_rows=int(y.sum()),
                    severe_patients=len(np.unique(pid[y == 1])))
    # A patient with no row in this subset must not count in its interval's patient number.
    present = counts.patients
    models, m_values = _figures(data, mask, weights, present, bins, data.prob, data.raw)
    if data.ref is None:
        return SubsetReport(counts=counts, models=models, reference=None, difference=None)
    reference, r_values = _figures(data, mask, weights, present, bins, data.ref, data.ref_raw)
    reasons = m_values["reasons"]
    difference = Difference(**{
        key: _estimate(m_values[key] - r_values[key], undefined=reasons[key], n_patients=present)
        for key in ("auroc", "auprc", "brier")})
    return SubsetReport(counts=counts, models=models, reference=reference, difference=difference)
