"""PRCRS_DEVICE: the decision of where a forward runs, tested without a GPU.

Under ``auto`` single predictions stay on the CPU and batch forwards of at least
PRCRS_CUDA_BATCH_ROWS rows go to CUDA where there is one. The CUDA path itself cannot run on
this machine (no GPU); here the same routing is exercised with a second CPU copy of each model
standing in for the batch device, so what is checked for real is which module a forward of n
rows takes and that the answers are the same either way.
"""

from __future__ import annotations

import pytest

from predictor.catalogue import FACTORS_BY_KEY, combination_factor_keys
from predictor.scoring import registry as registry_module
from predictor.scoring.batch import BatchRow, predict_batch
from predictor.scoring.device_routing import DevicePlan, device_plan, forward_device
from predictor.scoring.prediction import predict
from predictor.scoring.registry import REGISTRY
from predictor.scoring.shown_percent import shown_percent


def test_auto_without_cuda_runs_everything_on_the_cpu():
    plan = device_plan("auto", cuda_available=False, batch_rows=2000)
    assert plan == DevicePlan("cpu")
    assert {forward_device(plan, n) for n in (1, 1999, 2000, 10**6)} == {"cpu"}


def test_auto_with_cuda_keeps_single_predictions_on_the_cpu_and_sends_large_batches():
    plan = device_plan("auto", cuda_available=True, batch_rows=2000)
    assert plan.serving == "cpu"  # single predictions (ServingModel.raw_probability) use this
    assert forward_device(plan, 1) == "cpu"
    assert forward_device(plan, 1999) == "cpu"
    assert forward_device(plan, 2000) == "cuda"
    assert forward_device(plan, 20_000) == "cuda"


@pytest.mark.parametrize("setting", ["cpu", "cuda"])
def test_an_explicit_device_takes_every_forward(setting):
    plan = device_plan(setting, cuda_available=True, batch_rows=2000)
    assert {forward_device(plan, n) for n in (1, 5000)} == {setting}


def test_a_misspelt_device_is_refused_not_guessed():
    with pytest.raises(ValueError, match="PRCRS_DEVICE"):
        device_plan("gpu", cuda_available=True, batch_rows=2000)


def test_the_registry_reads_auto_as_cpu_for_single_predictions(settings, monkeypatch):
    settings.PRCRS_DEVICE, settings.PRCRS_CUDA_BATCH_ROWS = "auto", 500
    monkeypatch.setattr(registry_module.torch.cuda, "is_available", lambda: True)
    plan = registry_module.serving_plan()
    assert plan == DevicePlan("cpu", "cuda", 500)
    REGISTRY.reset()
    settings.PRCRS_DEVICE = "cpu"
    assert registry_module.serving_plan() == DevicePlan("cpu")


def _values(code: str, shift: float) -> dict[str, float]:
    return {k: round(sum(FACTORS_BY_KEY[k].typical) / 2 * (1 + shift), 4)
            for k in combination_factor_keys(code)}


def test_large_batches_take_the_batch_copy_with_the_same_answers(tiny_models, monkeypatch):
    # A batch device that exists here: a second copy of every model, on the CPU.
    monkeypatch.setattr(registry_module, "serving_plan", lambda: DevicePlan("cpu", "cpu", 4))
    REGISTRY.reset()
    model = REGISTRY.snapshot().get(1, "4")
    assert model.batch_module is not None and model.batch_module is not model.module
    assert model.module_for(3)[0] is model.module
    assert model.module_for(4)[0] is model.batch_module

    small = [BatchRow(_values("4", 0.01 * i)) for i in range(3)]
    large = [BatchRow(_values("4", 0.01 * i)) for i in range(40)]
    singles = [predict(row.values, [1], percent_input=False)[0] for row in large]
    for rows in (small, large):
        outcomes = predict_batch(rows, [1], percent_input=False)
        for outcome, single in zip(outcomes, singles):
            got = outcome.predictions[0]
            # The same answer to float32 rounding, as the registry's own check of a batch copy
            # (_agree): a forward of n rows may sum a row in another order than a forward of
            # one (on this kind of CPU a tiny linear layer differs in the last bit for 4 of
            # 40 rows between 1 and 40 rows), so the raw score is not bit-for-bit the same
            # everywhere. What a reader sees is.
            assert got.raw_probability == pytest.approx(single.raw_probability, rel=1e-6)
            assert got.probability == pytest.approx(single.probability, rel=1e-6)
            assert shown_percent(got.probability) == shown_percent(single.probability)


def test_a_batch_copy_that_answers_differently_is_not_used():
    import io

    import torch

    from tests.model_files import tiny_model_bytes

    def load(bias: float):
        return torch.jit.load(io.BytesIO(tiny_model_bytes(1, "4", bias=bias))).eval()

    warm = [1.0] * 7
    assert registry_module._agree(load(0.1), load(0.1), torch.device("cpu"), warm)
    assert not registry_module._agree(load(0.1), load(0.2), torch.device("cpu"), warm)
