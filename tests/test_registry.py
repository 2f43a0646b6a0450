"""The per-process model registry: real TorchScript files, real database, the serving stamp."""

from __future__ import annotations

import io
import json
import math

import pytest
import torch

from predictor.catalogue import COMBINATION_CODES, HORIZONS, combination_width
from predictor.model_versions.baselines import parse_baseline_csv
from predictor.model_versions.versions import (
    activate,
    bump_serving_stamp,
    current_stamp,
    record_version,
)
from predictor.models import ModelVersion
from predictor.scoring import registry as registry_module
from predictor.scoring.prediction import ModelUnavailable, predict
from predictor.scoring.registry import REGISTRY
from tests.conftest import install_model
from tests.model_files import TinyModel, baseline_csv, manifest, tiny_model_bytes


def expected_raw(vector, bias: float) -> float:
    """What TinyModel computes: softmax([0, mean(log1p(x)) + bias])[1]."""
    z = sum(math.log1p(max(v, 0.0)) for v in vector) / len(vector) + bias
    return 1 / (1 + math.exp(-z))


def model_bytes(horizon: int, combination: str, *, bias: float, baseline: str,
                width: int | None = None) -> bytes:
    """A tiny model file with a baseline of our choosing (and, if asked, the wrong width)."""
    module = torch.jit.script(TinyModel(width or combination_width(combination), bias))
    buffer = io.BytesIO()
    torch.jit.save(module, buffer, _extra_files={
        "manifest.json": json.dumps(manifest(horizon, combination)), "baseline.csv": baseline})
    return buffer.getvalue()


def record_raw(horizon: int, combination: str, data: bytes) -> ModelVersion:
    """Record bytes as a version without the admin's upload checks (a file gone bad on disk,
    or one from an older release): the registry must cope with whatever is active."""
    return record_version(horizon=horizon, combination=combination, data=data,
                          original_name="broken.pt", manifest=None,
                          baseline=parse_baseline_csv(baseline_csv()))


@pytest.fixture
def load_calls(monkeypatch):
    """Counts real loads (the real loader runs; we only count)."""
    calls: list[str] = []
    real = registry_module.load_serving_model

    def counting(row, device):
        calls.append(f"h{row['horizon']}-{row['combination']}-v{row['version']}")
        return real(row, device)

    monkeypatch.setattr(registry_module, "load_serving_model", counting)
    return calls


# --- loading -------------------------------------------------------------------------------------

def test_every_slot_loads_a_real_file_of_its_width_and_predicts(tiny_models):
    snapshot = REGISTRY.snapshot()

    assert snapshot.failures == {}
    assert set(snapshot.models) == {(h, c, "") for h in HORIZONS for c in COMBINATION_CODES}
    for (horizon, code, _context), model in snapshot.models.items():
        width = combination_width(code)
        vector = [float(i + 1) for i in range(width)]
        assert model.version_label == f"h{horizon}-{code}-v1"
        assert model.raw_probability(vector) == pytest.approx(expected_raw(vector, 0.1 * horizon),
                                                              rel=1e-5)
        assert len(model.calibration) == 60
        assert set(model.medians) == set(manifest(horizon, code)["factor_keys"])
        assert model.device.type in ("cpu", "cuda")


@pytest.mark.parametrize("code, width", [("1234", 42), ("123", 35), ("4", 7), ("23", 26),
                                         ("3", 16), ("2", 10)])
def test_each_width_is_the_catalogues(code, width):
    assert combination_width(code) == width


def test_a_file_missing_on_disk_is_written_back_from_the_database(db, settings):
    mv = install_model(1, "4")
    path = settings.PRCRS_MODELS_DIR / mv.file_name
    path.unlink()

    model = REGISTRY.snapshot().get(1, "4")

    assert model is not None and model.version_label == "h1-4-v1"
    assert path.read_bytes() == bytes(mv.content)


def test_nothing_active_means_an_empty_snapshot(db):
    install_model(1, "4", activate=False)
    snapshot = REGISTRY.snapshot()
    assert snapshot.models == {} and snapshot.failures == {}
    assert snapshot.stamp == current_stamp()


# --- a file that will not load -------------------------------------------------------------------

def test_a_file_that_fails_to_load_keeps_the_previous_version_serving(db):
    install_model(1, "4")
    assert REGISTRY.snapshot().get(1, "4").version_label == "h1-4-v1"

    broken = record_raw(1, "4", b"this is not a TorchScript archive")
    activate(broken)
    snapshot = REGISTRY.snapshot()

    assert snapshot.get(1, "4").version_label == "h1-4-v1"
    assert (1, "4", "") in snapshot.failures
    assert snapshot.stamp == current_stamp()
    # And the prediction still works, from the version that loaded.
    [result] = predict({"il2": 1, "il4": 2, "il6": 3, "il10": 4, "tnf_alpha": 5,
                        "ifn_gamma": 6, "il17a": 7}, [1], percent_input=False)
    assert result.model_version == "h1-4-v1"


def test_a_failed_slot_with_nothing_before_it_is_reported_and_not_served(db):
    activate(record_raw(2, "3", b"PK\x03\x04 broken zip"))

    snapshot = REGISTRY.snapshot()

    assert snapshot.get(2, "3") is None
    assert set(snapshot.failures) == {(2, "3", "")}
    with pytest.raises(ModelUnavailable):
        predict({"sodium": 140, "potassium": 4, "chloride": 100, "calcium": 2.3,
                 "uric_acid": 300, "glucose": 5, "triglyceride": 1, "ggt": 30, "albumin": 45,
                 "alt": 20, "ast": 20, "alp": 80, "ldh": 200, "creatinine": 80, "crp": 5,
                 "ferritin": 200}, [2], percent_input=False)


def test_a_module_of_the_wrong_width_fails_its_warm_up_and_is_not_served(db):
    install_model(1, "1234")
    REGISTRY.snapshot()
    wrong = model_bytes(1, "1234", bias=0.0, baseline=baseline_csv(), width=5)
    activate(record_raw(1, "1234", wrong))

    snapshot = REGISTRY.snapshot()

    assert snapshot.get(1, "1234").version_label == "h1-1234-v1"
    assert "shapes cannot be multiplied" in snapshot.failures[(1, "1234", "")]


def test_a_fixed_file_is_picked_up_after_a_failure(db):
    activate(record_raw(1, "2", b"garbage"))
    assert (1, "2", "") in REGISTRY.snapshot().failures

    install_model(1, "2")
    snapshot = REGISTRY.snapshot()

    assert snapshot.failures == {}
    assert snapshot.get(1, "2").version_label == "h1-2-v2"


# --- activation and the serving stamp ------------------------------------------------------------

def test_activating_a_new_version_changes_the_model_version_served(db):
    install_model(1, "4", bias=0.0)
    values = {"il2": 1, "il4": 2, "il6": 3, "il10": 4, "tnf_alpha": 5, "ifn_gamma": 6, "il17a": 7}
    [first] = predict(values, [1], percent_input=False)

    install_model(1, "4", bias=2.0)
    [second] = predict(values, [1], percent_input=False)

    assert (first.model_version, second.model_version) == ("h1-4-v1", "h1-4-v2")
    assert second.raw_probability > first.raw_probability


def test_a_change_in_the_database_serves_only_once_the_stamp_moves(db, load_calls):
    v1 = install_model(1, "4")
    REGISTRY.snapshot()
    v2 = install_model(1, "4", bias=1.0, activate=False)
    # Swap the active version behind the registry's back, without touching the stamp.
    ModelVersion.objects.filter(pk=v1.pk).update(state=ModelVersion.State.RETIRED)
    ModelVersion.objects.filter(pk=v2.pk).update(state=ModelVersion.State.ACTIVE)

    assert REGISTRY.snapshot().get(1, "4").version_label == "h1-4-v1"
    bump_serving_stamp()
    assert REGISTRY.snapshot().get(1, "4").version_label == "h1-4-v2"
    assert load_calls == ["h1-4-v1", "h1-4-v2"]


def test_rolling_back_serves_the_older_version_again(db):
    v1 = install_model(3, "23")
    install_model(3, "23", bias=1.0)
    assert REGISTRY.snapshot().get(3, "23").version_label == "h3-23-v2"

    activate(v1)

    assert REGISTRY.snapshot().get(3, "23").version_label == "h3-23-v1"


def test_nothing_is_loaded_while_the_stamp_is_unchanged(db, load_calls):
    install_model(1, "4")
    install_model(2, "4")
    first = REGISTRY.snapshot()

    for _ in range(5):
        assert REGISTRY.snapshot() is first
    assert REGISTRY.refresh() is first
    assert sorted(load_calls) == ["h1-4-v1", "h2-4-v1"]


def test_a_stamp_move_reloads_only_the_slots_that_changed(db, load_calls):
    install_model(1, "4")
    install_model(2, "4")
    before = REGISTRY.snapshot()
    load_calls.clear()

    install_model(2, "4", bias=1.0)
    after = REGISTRY.snapshot()

    assert load_calls == ["h2-4-v2"]
    assert after.get(1, "4") is before.get(1, "4")
    assert after.stamp > before.stamp


def test_a_bump_without_any_change_loads_nothing(db, load_calls):
    install_model(1, "4")
    before = REGISTRY.snapshot()
    load_calls.clear()

    bump_serving_stamp()  # e.g. an admin edited a catalogue text
    after = REGISTRY.snapshot()

    assert load_calls == []
    assert after is not before and after.get(1, "4") is before.get(1, "4")


# --- one request, one version --------------------------------------------------------------------

def test_a_requests_snapshot_keeps_module_and_baseline_of_one_version(db):
    all_severe_on_top = "probability,severe\n" + "".join(
        f"{(i + 0.5) / 40:.4f},{1 if i >= 20 else 0}\n" for i in range(40))
    install_model(1, "4", data=model_bytes(1, "4", bias=0.0, baseline=baseline_csv()))
    held = REGISTRY.snapshot()  # a request in flight holds this
    old = held.get(1, "4")
    vector = [5.0] * 7
    old_raw, old_ref = old.raw_probability(vector), old.calibration.lookup(0.9)

    install_model(1, "4", data=model_bytes(1, "4", bias=3.0, baseline=all_severe_on_top))
    new = REGISTRY.snapshot().get(1, "4")

    # The request that started before the activation still sees v1 whole: module and baseline.
    assert held.get(1, "4") is old
    assert old.version_label == "h1-4-v1"
    assert old.raw_probability(vector) == old_raw
    assert old.calibration.lookup(0.9) == old_ref
    assert len(old.calibration) == 60
    # Later requests see v2 whole.
    assert new.version_label == "h1-4-v2"
    assert new.raw_probability(vector) > old_raw
    assert len(new.calibration) == 40
    assert 0.9 < new.calibration.lookup(0.99).probability < 1.0  # never 100 %


def test_bundled_style_file_round_trip(db):
    # The file an admin uploads carries manifest and baseline: what install_model reads is
    # exactly what the registry serves.
    data = tiny_model_bytes(2, "123", bias=0.5)
    install_model(2, "123", data=data)
    model = REGISTRY.snapshot().get(2, "123")
    assert model.medians == manifest(2, "123")["medians"]
    assert model.calibration.scores[0] == pytest.approx(59.5 / 60, abs=1e-4)
