"""A batch's answers as columns, and the same answers as one prediction's objects on demand.

``score_batch`` (``predictor.scoring.batch``) fills, per horizon, one array per number of the
answer (probability, interval, raw score, reference counts, the no-lab reference beside it) and
one plan index per row saying which slot served it (combination, file, ignored and imputed keys):
10,000 rows are a few dozen arrays, not 10,000 objects. ``outcome(i)`` builds row ``i``'s
``RowOutcome`` with the ``HorizonPrediction`` objects ``predict`` would give; the pages ask for
those, the batch API reads the columns.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from predictor.catalogue import REFERENCE_COMBINATION
from predictor.inputs.validation import FactorLimits
from predictor.scoring.batch_intake import RowGroup
from predictor.scoring.headline import with_reference_headline
from predictor.scoring.prediction import ContextGain, HorizonPrediction, ReferencePrediction
from predictor.scoring.registry import ServingModel
from predictor.scoring.trained_ranges import range_warnings
from predictor.scoring.value_use import value_uses


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


@dataclass(frozen=True)
class Plan:
    """What is the same for every row a group sends through one slot at one horizon."""

    horizon: int
    combination: str
    model: ServingModel
    ignored: tuple[str, ...] = ()
    imputed: dict[str, float] = field(default_factory=dict)
    labs_add_information: bool | None = None
    unused: tuple[str, ...] = ()
    context_gain: ContextGain | None = None
    context_model_missing: bool = False
    completions: tuple = ()  # grade and day with labs that complete no panel (value_use)

    @property
    def reference_only(self) -> bool:
        return self.combination == REFERENCE_COMBINATION


class HorizonColumns:
    """One horizon's answers, one entry per batch row (rows that failed keep NaN / -1)."""

    def __init__(self, horizon: int, rows: int):
        self.horizon = horizon
        self.plan = np.full(rows, -1, dtype=np.int32)
        self.probability, self.raw, self.low, self.high = (np.full(rows, np.nan)
                                                           for _ in range(4))
        self.n, self.severe = np.zeros(rows, np.int64), np.zeros(rows, np.int64)
        # The no-lab reference beside a labs+context answer (-1: none).
        self.reference = np.full(rows, -1, dtype=np.int32)
        self.ref_probability, self.ref_raw, self.ref_low, self.ref_high = (
            np.full(rows, np.nan) for _ in range(4))
        self.ref_n, self.ref_severe = np.zeros(rows, np.int64), np.zeros(rows, np.int64)

    def lists(self) -> ColumnLists:
        return ColumnLists(self)


class ColumnLists:
    """A horizon's columns as Python lists: reading 10,000 answers one by one from lists takes
    a fraction of what numpy scalars cost."""

    def __init__(self, column: HorizonColumns):
        self.horizon = column.horizon
        for name in ("plan", "probability", "raw", "low", "high", "n", "severe", "reference",
                     "ref_probability", "ref_raw", "ref_low", "ref_high", "ref_n", "ref_severe"):
            setattr(self, name, getattr(column, name).tolist())


@dataclass
class BatchScores:
    """Every row's answer for every horizon (``columns``, in ``horizons`` order), or its errors."""

    ids: list
    horizons: list[int]
    columns: list[HorizonColumns]
    groups: list[RowGroup]
    row_group: np.ndarray  # group of each row (-1: failed before scoring)
    row_position: np.ndarray  # position within its group
    limits: Mapping[str, FactorLimits]
    plans: list[Plan] = field(default_factory=list)
    references: list[ServingModel] = field(default_factory=list)
    errors: dict[int, dict[str, list]] = field(default_factory=dict)
    status: dict[int, int] = field(default_factory=dict)
    _lists: list | None = field(default=None, repr=False)
    _where: list | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def ok(self, i: int) -> bool:
        return i not in self.errors

    def outcome(self, i: int) -> RowOutcome:
        if i in self.errors:
            return RowOutcome(index=i, id=self.ids[i], errors=self.errors[i],
                              status=self.status[i])
        return RowOutcome(index=i, id=self.ids[i], predictions=self.predictions_of(i))

    def outcomes(self) -> list[RowOutcome]:
        return [self.outcome(i) for i in range(len(self.ids))]

    def predictions(self) -> Iterator[HorizonPrediction]:
        """Every scored row's predictions, row by row (the prediction log's records)."""
        for i in range(len(self.ids)):
            if i not in self.errors:
                yield from self.predictions_of(i)

    def row_values(self, i: int) -> tuple[RowGroup, int]:
        if self._where is None:
            self._where = list(zip(self.row_group.tolist(), self.row_position.tolist()))
        g, j = self._where[i]
        return self.groups[g], j

    def column_lists(self) -> list[ColumnLists]:
        if self._lists is None:
            self._lists = [column.lists() for column in self.columns]
        return self._lists

    def predictions_of(self, i: int) -> list[HorizonPrediction]:
        group, j = self.row_values(i)
        values = group.values(j)
        flags = group.row_flags(j, values, self.limits)
        context = group.row_context(j)
        return [self._prediction(column, i, values, flags, context)
                for column in self.column_lists()]

    def _prediction(self, column: ColumnLists, i: int, values: dict[str, float],
                    flags: Mapping, context: dict[str, int] | None) -> HorizonPrediction:
        plan = self.plans[column.plan[i]]
        if plan.reference_only:
            return HorizonPrediction(
                horizon=column.horizon, combination=plan.combination,
                probability=column.probability[i], raw_probability=column.raw[i],
                reference_n=column.n[i], reference_severe=column.severe[i],
                model_version=plan.model.version_label, ignored=plan.ignored, imputed={},
                flags=flags if plan.ignored else {}, context=context,
                interval=(column.low[i], column.high[i]),
                value_use=value_uses(values, combination=plan.combination, used_keys=()),
                completions=plan.completions,
                range_warnings=range_warnings([plan.model.manifest], context))
        reference = None
        if column.reference[i] >= 0:
            reference = ReferencePrediction(
                column.ref_probability[i], (column.ref_low[i], column.ref_high[i]),
                column.ref_raw[i], column.ref_n[i], column.ref_severe[i],
                self.references[column.reference[i]].version_label)
        imputed = plan.imputed
        inputs = {k: values[k] if k in values else imputed[k] for k in plan.model.factor_keys}
        return with_reference_headline(HorizonPrediction(
            horizon=column.horizon, combination=plan.combination,
            probability=column.probability[i], raw_probability=column.raw[i],
            reference_n=column.n[i], reference_severe=column.severe[i],
            model_version=plan.model.version_label, ignored=plan.ignored, imputed=imputed,
            flags=flags, inputs=inputs, context=context,
            interval=(column.low[i], column.high[i]), no_lab_reference=reference,
            labs_add_information=plan.labs_add_information, context_gain=plan.context_gain,
            unused=plan.unused, context_model_missing=plan.context_model_missing,
            value_use=value_uses(values, combination=plan.combination,
                                 used_keys=plan.model.factor_keys, unused_by_model=plan.unused),
            range_warnings=self.range_warnings(plan, column.reference[i], context)))

    def range_warnings(self, plan: Plan, reference: int, context) -> tuple:
        """What the answer must say about a context beyond the files' trained ranges."""
        manifests = [plan.model.manifest] if plan.model.context else []
        if reference >= 0:
            manifests.append(self.references[reference].manifest)
        return range_warnings(manifests, context)
