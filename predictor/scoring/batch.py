"""Many patient-days at once: a cohort sheet, a course, or the batch API (spec section 9).

The same rules as one prediction (``predictor.scoring.prediction``): each row is checked on its
own and a bad row gets its own errors, never failing the others. What differs is the work: rows are
grouped by the slot that serves them, each model runs once per group (one batched forward), and
calibration is looked up for the whole group at once. The answers are the same
``HorizonPrediction`` objects a single prediction gives, so the API and the pages show them alike.
"""

from __future__ import annotations

import functools
import gc
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from predictor.catalogue import (
    CONTEXT_BOTH,
    CONTEXT_NONE,
    REFERENCE_COMBINATION,
    combination_factor_keys,
)
from predictor.inputs.context import check_context, context_given
from predictor.inputs.validation import CheckedValues, check_numeric_rows, check_values
from predictor.live_catalogue import live_catalogue
from predictor.scoring.intervals import wilson_interval
from predictor.scoring.prediction import (
    HorizonPrediction,
    InvalidInput,
    ModelOutputInvalid,
    ModelUnavailable,
    ReferencePrediction,
    _medians,
    _no_combination_error,
    _nothing_entered,
    _unused,
    context_gain,
)
from predictor.scoring.registry import REGISTRY, ServingModel, Snapshot
from predictor.scoring.selection import Selection, choose_combination

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchRow:
    """One patient-day as given: lab values by factor key, optional context, optional id."""

    values: Mapping[str, object]
    context: Mapping[str, object] | None = None
    id: object = None


@dataclass
class RowOutcome:
    """A row's answer: one prediction per horizon, or the errors that stopped it.

    ``status`` is 400 for a row whose input is wrong, 503 for a row no installed model can serve.
    """

    index: int
    id: object
    predictions: list[HorizonPrediction] = field(default_factory=list)
    errors: dict[str, list] = field(default_factory=dict)
    status: int = 200

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class _Pending:
    """A row that passed its checks, waiting for its slots' batched forwards."""

    outcome: RowOutcome
    values: dict[str, float]
    flags: dict[str, object]
    context: dict[str, int] | None
    reference_only: bool


@dataclass
class _Job:
    """One (row, horizon) to run through one slot's model."""

    row: _Pending
    horizon: int
    selection: Selection | None  # None: the no-lab reference alone
    model: ServingModel
    vector: list[float]
    raw: float = float("nan")
    probability: float = float("nan")
    n: int = 0
    severe: int = 0


def predict_batch(rows: Sequence[BatchRow], horizons: Iterable[int], *,
                  percent_input: bool) -> list[RowOutcome]:
    """Score every row for every horizon; returns one outcome per row, in order.

    No side effects (no prediction log: the caller decides what to record).
    """
    # The cyclic garbage collector would walk the growing heap again and again while tens of
    # thousands of small objects are made (10,000 rows took twice as long per row as 1,000):
    # none of them form cycles, so it waits until the batch is done.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _predict_batch(rows, list(horizons), percent_input=percent_input)
    finally:
        if collecting:
            gc.enable()


def _predict_batch(rows: Sequence[BatchRow], horizons: list[int], *,
                   percent_input: bool) -> list[RowOutcome]:
    snapshot = REGISTRY.snapshot()
    catalogue = live_catalogue(snapshot.stamp)
    outcomes = [RowOutcome(index=i, id=row.id) for i, row in enumerate(rows)]
    # Rows of plain numbers are checked column by column; the rest (text, errors) one by one.
    fast = check_numeric_rows(
        [row.values if isinstance(row.values, Mapping) else None for row in rows],
        limits=catalogue.limits, min_values=settings.PRCRS_MIN_VALUES) if not percent_input \
        else [None] * len(rows)
    pending = [p for p in (_check_row(row, outcome, catalogue.limits, percent_input, checked)
                           for row, outcome, checked in zip(rows, outcomes, fast))
               if p is not None]
    jobs: list[_Job] = []
    selections: dict[tuple, Selection | None] = {}
    medians_by = {(h, ctx): _medians(snapshot, h, ctx)
                  for h in horizons for ctx in (CONTEXT_NONE, CONTEXT_BOTH)}
    for row in pending:
        try:
            jobs.extend(_row_jobs(row, horizons, snapshot, medians_by, selections, catalogue))
        except (InvalidInput, ModelUnavailable) as problem:
            _fail(row.outcome, problem)
    references = _reference_jobs(jobs, snapshot)
    for group in _by_model(jobs + references).values():
        _run_group(group)
    _assemble(jobs, references, snapshot)
    return outcomes


def _check_row(row: BatchRow, outcome: RowOutcome, limits, percent_input: bool,
               checked: CheckedValues | None = None) -> _Pending | None:
    values = row.values if isinstance(row.values, Mapping) else None
    context = row.context if isinstance(row.context, Mapping) else None
    if values is None:
        outcome.errors = {"values": [_("\"values\" must be a JSON object mapping factor keys to "
                                       "numbers.")]}
        outcome.status = 400
        return None
    checked_context = check_context(context)
    reference_only = checked is None and context_given(context) and _nothing_entered(values)
    if checked is None:
        checked = check_values(values, limits=limits, percent_input=percent_input,
                               min_values=0 if reference_only else settings.PRCRS_MIN_VALUES)
    if not checked.ok or not checked_context.ok:
        errors = dict(checked.errors)
        for key, messages in checked_context.errors.items():
            errors.setdefault(key, []).extend(messages)
        _fail(outcome, InvalidInput(errors))
        return None
    return _Pending(outcome, checked.values, checked.flags, checked_context.values,
                    reference_only)


def _fail(outcome: RowOutcome, problem: Exception) -> None:
    outcome.predictions = []
    if isinstance(problem, InvalidInput):
        outcome.errors, outcome.status = dict(problem.errors), 400
    else:
        outcome.errors, outcome.status = {"__all__": [problem.message]}, 503


def _row_jobs(row: _Pending, horizons, snapshot: Snapshot, medians_by, selections,
              catalogue) -> list[_Job]:
    jobs = []
    for horizon in horizons:
        if row.reference_only:
            model = snapshot.get(horizon, REFERENCE_COMBINATION, CONTEXT_BOTH)
            if model is None:
                raise ModelUnavailable(horizon, REFERENCE_COMBINATION)
            jobs.append(_Job(row, horizon, None, model, model.input_vector((), row.context)))
            continue
        wanted = CONTEXT_BOTH if row.context is not None else CONTEXT_NONE
        selection = _select(row.values, horizon, wanted, medians_by, selections)
        if selection is None:
            raise _no_combination_error(row.values, catalogue)
        model = (snapshot.get(horizon, selection.combination, wanted) if row.context
                 else None) or snapshot.get(horizon, selection.combination)
        if model is None:
            raise ModelUnavailable(horizon, selection.combination)
        jobs.append(_Job(row, horizon, selection, model,
                         model.input_vector(selection.vector, row.context)))
    return jobs


def _select(values: dict[str, float], horizon: int, wanted: str, medians_by, cache
            ) -> Selection | None:
    """``choose_combination``, decided once per pattern of entered keys: a cohort's rows share
    a handful of patterns, and the choice depends only on which keys are there."""
    key = (horizon, wanted, frozenset(values))
    if key not in cache:
        cache[key] = choose_combination({k: 0.0 for k in values},
                                        medians=medians_by[(horizon, wanted)],
                                        max_imputed_fraction=settings.PRCRS_MAX_IMPUTED_FRACTION)
    template = cache[key]
    if template is None:
        return None
    vector = tuple(values[k] if k in values else template.imputed[k]
                   for k in combination_factor_keys(template.combination))
    return Selection(template.combination, vector, template.ignored, template.imputed)


def _reference_jobs(jobs: list[_Job], snapshot: Snapshot) -> list[_Job]:
    """The no-lab reference beside every labs+context answer (spec section 8)."""
    extra = []
    for job in jobs:
        if job.row.context is not None and job.selection is not None:
            model = snapshot.get(job.horizon, REFERENCE_COMBINATION, CONTEXT_BOTH)
            if model is not None:
                extra.append(_Job(job.row, job.horizon, None, model,
                                  model.input_vector((), job.row.context)))
    return extra


def _by_model(jobs: list[_Job]) -> dict[int, list[_Job]]:
    groups: dict[int, list[_Job]] = defaultdict(list)
    for job in jobs:
        if job.row.outcome.ok:
            groups[id(job.model)].append(job)
    return groups


def _run_group(group: list[_Job]) -> None:
    """One batched forward and one vectorised calibration for every job of one slot."""
    model = group[0].model
    try:
        raw = _forward(model, [job.vector for job in group])
    except Exception:  # noqa: BLE001 - an uploaded module may fail on some rows only
        log.exception("model %s raised on a batch of %d rows; running them one by one",
                      model.version_label, len(group))
        raw = np.array([_forward_one(model, job.vector) for job in group])
    finite = np.isfinite(raw)
    probabilities, n, severe = model.calibration.lookup_many(np.where(finite, raw, 0.0))
    for i, job in enumerate(group):
        if not finite[i]:  # NaN/inf, or the module raised on this row: a 503 for it alone
            log.error("model %s gave no valid result (%r) for %s", model.version_label, raw[i],
                      job.vector)
            _fail(job.row.outcome, ModelOutputInvalid(job.horizon, model.combination,
                                                      model.version_label))
            continue
        job.raw, job.probability = float(raw[i]), float(probabilities[i])
        job.n, job.severe = int(n[i]), int(severe[i])


def _forward(model: ServingModel, vectors: list[list[float]]) -> np.ndarray:
    x = torch.tensor(vectors, dtype=torch.float32, device=model.device)
    with torch.inference_mode(), torch.jit.optimized_execution(False):
        raw = torch.softmax(model.module(x), dim=1)[:, 1].double().cpu().numpy()
    if raw.shape != (len(vectors),):
        raise ValueError(f"output of shape {tuple(raw.shape)} for {len(vectors)} rows")
    return raw


def _forward_one(model: ServingModel, vector: list[float]) -> float:
    try:
        return float(_forward(model, [vector])[0])
    except Exception:  # noqa: BLE001 - logged by the caller as an invalid result
        return float("nan")


def _assemble(jobs: list[_Job], references: list[_Job], snapshot: Snapshot) -> None:
    reference_of = {(id(job.row), job.horizon): job for job in references}
    # What is the same for every row of a model or slot, worked out once.
    interval = functools.lru_cache(maxsize=None)(wilson_interval)
    about_model = {}
    gains = {}
    for job in jobs:
        outcome = job.row.outcome
        if not outcome.ok:
            continue
        row = job.row
        if job.selection is None:  # the no-lab reference alone
            outcome.predictions.append(HorizonPrediction(
                horizon=job.horizon, combination=REFERENCE_COMBINATION,
                probability=job.probability, raw_probability=job.raw, reference_n=job.n,
                reference_severe=job.severe, model_version=job.model.version_label, ignored=(),
                imputed={}, context=row.context, interval=interval(job.severe, job.n)))
            continue
        ref = reference_of.get((id(row), job.horizon))
        model, selection = job.model, job.selection
        if id(model) not in about_model:
            about_model[id(model)] = (
                bool(model.manifest.get("labs_add_information", True)) if model.context else True,
                _unused(model))
        labs_add_information, unused = about_model[id(model)]
        gain = None
        if row.context is None:
            slot = (job.horizon, selection.combination)
            if slot not in gains:
                gains[slot] = context_gain(snapshot, *slot)
            gain = gains[slot]
        outcome.predictions.append(HorizonPrediction(
            horizon=job.horizon, combination=selection.combination,
            probability=job.probability, raw_probability=job.raw, reference_n=job.n,
            reference_severe=job.severe, model_version=model.version_label,
            ignored=selection.ignored, imputed=selection.imputed, flags=row.flags,
            inputs=dict(zip(model.factor_keys, selection.vector)), context=row.context,
            interval=interval(job.severe, job.n),
            no_lab_reference=ReferencePrediction(
                ref.probability, interval(ref.severe, ref.n), ref.raw, ref.n,
                ref.severe, ref.model.version_label) if ref is not None else None,
            labs_add_information=labs_add_information, context_gain=gain, unused=unused,
            context_model_missing=row.context is not None and not model.context))
