"""Many rows at once (predictor.scoring.batch): the same answers as one prediction, row by row,
with a bad row failing alone, and each slot's model run once per batch."""

from __future__ import annotations

import pytest
import torch

from predictor.catalogue import FACTORS, HORIZONS, combination_factor_keys
from predictor.scoring.batch import BatchRow, predict_batch
from predictor.scoring.prediction import InvalidInput, ModelUnavailable, predict
from predictor.scoring.registry import REGISTRY
from tests.conftest import CYTOKINES, install_model
from tests.model_files import tiny_model_bytes

pytestmark = pytest.mark.django_db

TYPICAL = {f.key: (f.typical[0] + f.typical[1]) / 2 for f in FACTORS}
BLOOD = {k: TYPICAL[k] for k in combination_factor_keys("2")}


def _rows() -> list[BatchRow]:
    """Rows that select different slots, with and without context, and two bad ones."""
    everything = dict(TYPICAL)
    return [
        BatchRow(CYTOKINES, None, "cytokines"),
        BatchRow(CYTOKINES, {"crs_grade": 1, "day": 4}, "cytokines+context"),
        BatchRow(everything, {"crs_grade": "2", "day": "7"}, "all panels+context"),
        BatchRow(BLOOD, None, "blood"),
        BatchRow({}, {"crs_grade": 0, "day": 1}, "context only"),
        BatchRow({"il6": "abc"}, None, "not a number"),
        BatchRow(CYTOKINES, {"crs_grade": 1}, "half a context"),
        BatchRow(dict(CYTOKINES, il6="1,234"), None, "ambiguous thousands"),
        BatchRow({**CYTOKINES, "il6": 60.0}, {"crs_grade": 3, "day": 2}, "severe today"),
    ]


def _single(row: BatchRow, horizons):
    try:
        return predict(row.values, horizons, percent_input=False, context=row.context), None
    except (InvalidInput, ModelUnavailable) as problem:
        return None, problem


def test_every_row_gets_what_a_single_prediction_would_give_it(tiny_context_models):
    rows = _rows()
    outcomes = predict_batch(rows, HORIZONS, percent_input=False)
    assert [o.id for o in outcomes] == [r.id for r in rows]
    for row, outcome in zip(rows, outcomes):
        single, problem = _single(row, HORIZONS)
        if problem is not None:
            assert not outcome.ok, row.id
            expected = problem.errors if isinstance(problem, InvalidInput) else {
                "__all__": [problem.message]}
            assert {k: [str(m) for m in v] for k, v in outcome.errors.items()} == {
                k: [str(m) for m in v] for k, v in expected.items()}, row.id
            continue
        assert outcome.ok, (row.id, outcome.errors)
        assert len(outcome.predictions) == len(single)
        for got, want in zip(outcome.predictions, single):
            assert got.combination == want.combination and got.model_version == want.model_version
            assert got.probability == want.probability
            assert got.raw_probability == pytest.approx(want.raw_probability, abs=1e-6)
            assert got.interval == want.interval
            assert (got.reference_n, got.reference_severe) == (want.reference_n,
                                                                 want.reference_severe)
            assert got.imputed == want.imputed and set(got.ignored) == set(want.ignored)
            if want.no_lab_reference is None:
                assert got.no_lab_reference is None
            else:
                assert got.no_lab_reference.probability == want.no_lab_reference.probability
                assert got.no_lab_reference.interval == want.no_lab_reference.interval
            assert got.context_gain == want.context_gain
            assert got.context == want.context


def test_a_bad_row_fails_alone_with_its_own_errors(tiny_context_models):
    outcomes = predict_batch(_rows(), [1], percent_input=False)
    by_id = {o.id: o for o in outcomes}
    assert by_id["not a number"].status == 400 and "il6" in by_id["not a number"].errors
    assert by_id["half a context"].status == 400
    assert by_id["ambiguous thousands"].status == 400
    assert all(by_id[i].ok for i in ("cytokines", "blood", "context only", "severe today"))
    assert by_id["context only"].predictions[0].combination == "0"


def test_each_slot_runs_its_model_once_for_all_its_rows(tiny_context_models):
    numbers = {k: float(v) for k, v in CYTOKINES.items()}
    rows = [BatchRow({**numbers, "il6": 10.0 + i}, None, i) for i in range(48)]
    # Rows of other key patterns (another order, text read one by one) join the same forward.
    rows += [BatchRow(dict(reversed(list(numbers.items()))), None, "reversed"),
             BatchRow(dict(CYTOKINES), None, "text")]
    snapshot = REGISTRY.snapshot()
    model = snapshot.get(1, "4")
    calls = []
    real = model.module

    class Counting(torch.nn.Module):
        def forward(self, x):
            calls.append(tuple(x.shape))
            return real(x)

    # ServingModel is frozen: swap its module for one that counts the forwards it is asked for.
    object.__setattr__(model, "module", Counting())
    try:
        outcomes = predict_batch(rows, [1], percent_input=False)
    finally:
        object.__setattr__(model, "module", real)
    assert calls == [(50, 7)]
    assert all(o.ok for o in outcomes)
    # Different IL-6 values, different scores: the batch did not give every row the first's.
    assert len({o.predictions[0].raw_probability for o in outcomes}) > 1


def test_a_slot_without_a_model_fails_only_its_rows(tiny_models):
    from predictor.models import ModelVersion

    ModelVersion.objects.filter(horizon=1, combination="2").update(state="retired")
    REGISTRY.refresh(force=True)
    outcomes = predict_batch([BatchRow(BLOOD, None, "blood"), BatchRow(CYTOKINES, None, "cyto")],
                             [1], percent_input=False)
    assert outcomes[0].status == 503 and not outcomes[0].ok
    assert outcomes[1].ok


class RaisesOnHighIl6(torch.nn.Module):
    """Passes a warm-up with ordinary values, raises when IL-6 (3rd cytokine) is very high."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x[:, 2] > 1000.0).any()):
            raise RuntimeError("this module cannot take such a value")
        return torch.zeros(x.shape[0], 2)


def test_a_model_that_raises_gives_503_for_its_rows_only(tiny_models):
    install_model(1, "4", data=tiny_model_bytes(1, "4", module=RaisesOnHighIl6()))
    REGISTRY.refresh(force=True)
    outcomes = predict_batch([BatchRow({**CYTOKINES, "il6": 5000}, None, "too high"),
                              BatchRow(CYTOKINES, None, "ordinary"),
                              BatchRow(BLOOD, None, "blood")], [1], percent_input=False)
    assert outcomes[0].status == 503 and "h1-4-v2" in str(outcomes[0].errors["__all__"][0])
    # The same model answers the row it can take, and other slots are untouched.
    assert outcomes[1].ok and outcomes[1].predictions[0].model_version == "h1-4-v2"
    assert outcomes[2].ok


def test_a_large_forward_uses_the_batch_threads_and_gives_them_back(tiny_models, settings):
    settings.PRCRS_BATCH_TORCH_THREADS = 2
    numbers = {k: float(v) for k, v in CYTOKINES.items()}
    model = REGISTRY.snapshot().get(1, "4")
    seen, real = [], model.module

    class Watching(torch.nn.Module):
        def forward(self, x):
            seen.append((x.shape[0], torch.get_num_threads()))
            return real(x)

    before = torch.get_num_threads()
    object.__setattr__(model, "module", Watching())
    try:
        for count in (10, 600):
            predict_batch([BatchRow(numbers, None, i) for i in range(count)], [1],
                          percent_input=False)
    finally:
        object.__setattr__(model, "module", real)
    assert seen == [(10, before), (600, max(before, 2))]
    assert torch.get_num_threads() == before
