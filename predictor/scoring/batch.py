"""Many patient-days at once: a cohort sheet, a course, or the batch API (spec section 9).

The same rules as one prediction (``predictor.scoring.prediction``): each row is checked on its
own and a bad row gets its own errors, never failing the others. What differs is the work, done
per group of rows rather than per row: rows holding the same lab keys are checked as one matrix
(``batch_intake``), the combination is chosen once per group and horizon, every slot's model runs
once on all the rows it serves (one batched forward), and calibration and intervals are looked up
for whole arrays. The answers are columns (``batch_scores.BatchScores``); ``predict_batch`` turns
them into the ``HorizonPrediction`` objects a single prediction gives, so pages show them alike.
"""

from __future__ import annotations

import gc
import logging
from contextlib import contextmanager
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from django.conf import settings

from predictor.catalogue import CONTEXT_BOTH, CONTEXT_NONE, REFERENCE_COMBINATION
from predictor.live_catalogue import live_catalogue
from predictor.scoring.batch_intake import RowGroup, take_rows
from predictor.scoring.batch_scores import BatchScores, HorizonColumns, Plan, RowOutcome
from predictor.scoring.prediction import (
    InvalidInput,
    ModelOutputInvalid,
    ModelUnavailable,
    _medians,
    _no_combination_error,
    _reference_model,
    _unused,
    context_gain,
)
from predictor.scoring.headline import labs_add_information
from predictor.scoring.registry import REGISTRY, ServingModel, Snapshot
from predictor.scoring.selection import choose_combination
from predictor.scoring.trained_ranges import last_trained_day
from predictor.scoring.value_use import completions

__all__ = ["BatchRow", "RowOutcome", "BatchScores", "predict_batch", "score_batch", "no_cyclic_gc"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchRow:
    """One patient-day as given: lab values by factor key, optional context, optional id."""

    values: Mapping[str, object]
    context: Mapping[str, object] | None = None
    id: object = None


@dataclass
class _Segment:
    """The rows of one group going through one model at one horizon."""

    column: HorizonColumns
    rank: int  # where a failure here stands among a row's failures (predict()'s order)
    rows: np.ndarray  # batch row indices
    inputs: np.ndarray  # float32, one row per batch row, the module's input layout
    plan: int  # index into BatchScores.plans; -1: the no-lab reference beside the answer


def predict_batch(rows: Sequence[BatchRow], horizons: Iterable[int], *,
                  percent_input: bool) -> list[RowOutcome]:
    """Score every row for every horizon; one ``RowOutcome`` per row, in order, with the
    ``HorizonPrediction`` objects ``predict`` would give. No side effects (no prediction log:
    the caller decides what to record)."""
    scores = score_batch(rows, horizons, percent_input=percent_input)
    with no_cyclic_gc():
        return scores.outcomes()


def score_batch(rows: Sequence[BatchRow], horizons: Iterable[int], *,
                percent_input: bool) -> BatchScores:
    """Score every row for every horizon, as columns (see ``BatchScores``)."""
    with no_cyclic_gc():
        return _score(rows, list(horizons), percent_input=percent_input)


@contextmanager
def no_cyclic_gc():
    """The cyclic garbage collector would walk the growing heap again and again while a batch
    makes its many small, acyclic objects (10,000 rows took twice as long per row as 1,000)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _score(rows: Sequence[BatchRow], horizons: list[int], *, percent_input: bool
           ) -> BatchScores:
    snapshot = REGISTRY.snapshot()
    catalogue = live_catalogue(snapshot.stamp)
    intake = take_rows(rows, limits=catalogue.limits, percent_input=percent_input,
                       min_values=settings.PRCRS_MIN_VALUES)
    row_group = np.full(len(rows), -1, dtype=np.int32)
    row_position = np.zeros(len(rows), dtype=np.int32)
    for g, group in enumerate(intake.groups):
        row_group[group.rows] = g
        row_position[group.rows] = np.arange(len(group.rows), dtype=np.int32)
    scores = BatchScores([row.id for row in rows], horizons,
                         [HorizonColumns(h, len(rows)) for h in horizons], intake.groups,
                         row_group, row_position, catalogue.limits)
    failures = _Failures(scores)
    for i, errors in intake.errors.items():
        failures.add(i, (-1, 0), InvalidInput(errors))
    planner = _Planner(snapshot, catalogue, scores)
    by_model: dict[int, tuple[ServingModel, list[_Segment]]] = {}
    for group in intake.groups:
        try:
            segments = [segment for rank, column in enumerate(scores.columns)
                        for segment in planner.segments(group, column, rank)]
        except (InvalidInput, ModelUnavailable) as problem:  # the same for every row of it
            for i in group.rows.tolist():
                failures.add(i, (-1, 0), problem)
            continue
        for model, segment in segments:
            by_model.setdefault(id(model), (model, []))[1].append(segment)
    for model, segments in by_model.values():
        _run_model(model, segments, scores, failures)
    failures.settle()
    return scores


class _Failures:
    """Each failed row's first failure in ``predict``'s order (horizon, then model before its
    reference), which ``predict`` would have raised for it."""

    def __init__(self, scores: BatchScores):
        self.scores = scores
        self.first: dict[int, tuple[tuple, Exception]] = {}

    def add(self, i: int, rank: tuple, problem: Exception) -> None:
        if i not in self.first or rank < self.first[i][0]:
            self.first[i] = (rank, problem)

    def settle(self) -> None:
        for i, (_, problem) in self.first.items():
            if isinstance(problem, InvalidInput):
                self.scores.errors[i], self.scores.status[i] = dict(problem.errors), 400
            else:
                self.scores.errors[i], self.scores.status[i] = {"__all__": [problem.message]}, 503


class _Planner:
    """Decides, once per key pattern and horizon, which slot serves a group and how its rows
    become the module's input."""

    def __init__(self, snapshot: Snapshot, catalogue, scores: BatchScores):
        self.snapshot, self.catalogue, self.scores = snapshot, catalogue, scores
        self._plans: dict[tuple, int] = {}
        self._gains: dict[tuple, object] = {}
        self._medians: dict[tuple, dict] = {}

    def segments(self, group: RowGroup, column: HorizonColumns, rank: int
                 ) -> list[tuple[ServingModel, _Segment]]:
        """The group's work at one horizon: its model, and the no-lab reference beside a
        labs+context answer. Raises what ``predict`` would raise for any of its rows."""
        plan_index = self._plan(group, column.horizon)
        plan = self.scores.plans[plan_index]
        model = plan.model
        work = [(model, _Segment(column, (rank, 0), group.rows, self._inputs(model, group, plan),
                                 plan_index))]
        if group.context and not plan.reference_only:
            reference = _reference_model(self.snapshot, column.horizon)
            if reference is not None:
                work.append((reference, _Segment(column, (rank, 1), group.rows,
                                                 self._inputs(reference, group, None), -1)))
        return work

    def _plan(self, group: RowGroup, horizon: int) -> int:
        key = (group.keys, group.context, group.reference_only, horizon)
        if key not in self._plans:
            plan = self._reference_plan(horizon) if group.reference_only \
                else self._labs_plan(group, horizon)
            self.scores.plans.append(plan)
            self._plans[key] = len(self.scores.plans) - 1
        return self._plans[key]

    def _reference_plan(self, horizon: int) -> Plan:
        model = _reference_model(self.snapshot, horizon)
        if model is None:
            raise ModelUnavailable(horizon, REFERENCE_COMBINATION)
        return Plan(horizon, REFERENCE_COMBINATION, model)

    def _labs_plan(self, group: RowGroup, horizon: int) -> Plan:
        wanted = CONTEXT_BOTH if group.context else CONTEXT_NONE
        if (horizon, wanted) not in self._medians:
            self._medians[(horizon, wanted)] = _medians(self.snapshot, horizon, wanted)
        entered = dict.fromkeys(group.keys, 0.0)  # the choice depends only on which keys
        selection = choose_combination(entered, medians=self._medians[(horizon, wanted)],
                                       max_imputed_fraction=settings.PRCRS_MAX_IMPUTED_FRACTION)
        if selection is None and group.context:  # loose labs never block (issue 16)
            return replace(self._reference_plan(horizon), ignored=group.keys,
                           completions=completions(entered, self.snapshot, horizon))
        if selection is None:
            raise _no_combination_error(entered, self.catalogue)
        combination = selection.combination
        model = (self.snapshot.get(horizon, combination, wanted) if group.context else None) \
            or self.snapshot.get(horizon, combination)
        if model is None:
            raise ModelUnavailable(horizon, combination)
        gain = None
        if not group.context:
            if (horizon, combination) not in self._gains:
                self._gains[(horizon, combination)] = context_gain(self.snapshot, horizon,
                                                                   combination)
            gain = self._gains[(horizon, combination)]
        return Plan(horizon, combination, model, selection.ignored, selection.imputed,
                    labs_add_information=labs_add_information(model),
                    unused=_unused(model), context_gain=gain,
                    context_model_missing=group.context and not model.context)

    @staticmethod
    def _inputs(model: ServingModel, group: RowGroup, plan: Plan | None) -> np.ndarray:
        """The module's input for the group's rows: the combination's lab values (entered, or
        the plan's imputed medians), then the context values in the file's declared order."""
        position = {key: c for c, key in enumerate(group.keys)}
        inputs = np.empty((len(group.rows), model.width), dtype=np.float32)
        for c, key in enumerate(model.factor_keys):
            inputs[:, c] = group.x[:, position[key]] if key in position else plan.imputed[key]
        last_day = last_trained_day(model.manifest)  # never beyond the trained days
        day = group.day if last_day is None else np.minimum(group.day, last_day)
        for c, key in enumerate(model.context_keys, start=len(model.factor_keys)):
            inputs[:, c] = group.grade if key == "crs_grade" else day
        return inputs


def _run_model(model: ServingModel, segments: list[_Segment], scores: BatchScores,
               failures: _Failures) -> None:
    """One batched forward and one vectorised calibration for every row the model serves."""
    inputs = np.concatenate([segment.inputs for segment in segments])
    try:
        module, device = model.module_for(len(inputs))
        with _batch_threads(len(inputs), device):
            raw = _forward(module, device, inputs)
    except Exception:  # noqa: BLE001 - an uploaded module may fail on some rows only
        log.exception("model %s raised on a batch of %d rows; running them one by one",
                      model.version_label, len(inputs))
        raw = np.array([_forward_one(model, row) for row in inputs])
    finite = np.isfinite(raw)
    found = model.calibration.lookup_many(np.where(finite, raw, 0.0))
    probability, n, severe, low, high = found.probability, found.n, found.severe, found.low, \
        found.high
    start = 0
    for segment in segments:
        part = slice(start, start + len(segment.rows))
        start = part.stop
        column, rows = segment.column, segment.rows
        if segment.plan >= 0:
            column.plan[rows] = segment.plan
            column.raw[rows], column.probability[rows] = raw[part], probability[part]
            column.n[rows], column.severe[rows] = n[part], severe[part]
            column.low[rows], column.high[rows] = low[part], high[part]
        else:
            column.reference[rows] = _reference_slot(scores, model)
            column.ref_raw[rows], column.ref_probability[rows] = raw[part], probability[part]
            column.ref_n[rows], column.ref_severe[rows] = n[part], severe[part]
            column.ref_low[rows], column.ref_high[rows] = low[part], high[part]
        bad = ~finite[part]
        if bad.any():  # NaN/inf, or the module raised on this row: a 503 for it alone
            for k in np.flatnonzero(bad).tolist():
                log.error("model %s gave no valid result (%r) for %s", model.version_label,
                          raw[part][k], segment.inputs[k].tolist())
                failures.add(int(rows[k]), segment.rank, ModelOutputInvalid(
                    column.horizon, model.combination, model.version_label))


# Below this many rows a forward is too short for a second thread to pay for waking it.
PARALLEL_ROWS = 512


@contextmanager
def _batch_threads(rows: int, device: torch.device):
    """More CPU threads for one large forward (PRCRS_BATCH_TORCH_THREADS), then back to the
    process's setting: the tree files' forward on 10,000 rows takes half as long on 2 cores."""
    wanted = settings.PRCRS_BATCH_TORCH_THREADS
    before = torch.get_num_threads()
    if rows < PARALLEL_ROWS or device.type != "cpu" or wanted <= before:
        yield
        return
    torch.set_num_threads(wanted)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _reference_slot(scores: BatchScores, model: ServingModel) -> int:
    for k, known in enumerate(scores.references):
        if known is model:
            return k
    scores.references.append(model)
    return len(scores.references) - 1


def _forward(module: torch.jit.ScriptModule, device: torch.device,
             inputs: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)).to(device)
    with torch.inference_mode(), torch.jit.optimized_execution(False):
        raw = torch.softmax(module(x), dim=1)[:, 1].double().cpu().numpy()
    if raw.shape != (len(inputs),):
        raise ValueError(f"output of shape {tuple(raw.shape)} for {len(inputs)} rows")
    return raw


def _forward_one(model: ServingModel, row: np.ndarray) -> float:
    try:
        return float(_forward(model.module, model.device, row.reshape(1, -1))[0])
    except Exception:  # noqa: BLE001 - logged by the caller as an invalid result
        return float("nan")
