"""The calibration a served file uses (issue 15): the manifest's method honoured, an unknown
method refused at upload in the admin's language, a baseline's patient column read and used,
and probabilities under 1 % written "< 1 %" on the page in both languages, with real TorchScript
files, the real database and the real upload checks."""

from __future__ import annotations

import re
from html import unescape

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation

from predictor.model_versions.baselines import BaselineError, baseline_columns, parse_baseline_csv
from predictor.model_versions.calibration_spec import (
    CalibrationSpec,
    CalibrationSpecError,
    calibration_spec,
)
from predictor.models import AuditEvent, ModelVersion
from predictor.scoring.calibration_methods import fit_map
from predictor.scoring.registry import REGISTRY
from predictor.scoring.shown_percent import (
    sheet_percent,
    shown_interval_end,
    shown_percent,
)
from tests.conftest import CYTOKINES, install_model
from tests.model_files import tiny_model_bytes


def patient_baseline(rows: int = 120, per_patient: int = 4) -> str:
    lines = ["probability,severe,grade,patient"]
    for i in range(rows):
        p = (i + 0.5) / rows
        lines.append(f"{p:.4f},{1 if (i * 7) % rows < p * rows else 0},0,{i // per_patient}")
    return "\n".join(lines) + "\n"


def low_baseline(rows: int = 200) -> str:
    """Severe only at the top: a low raw score must come out under 1 %."""
    lines = ["probability,severe"]
    for i in range(rows):
        lines.append(f"{(i + 0.5) / rows:.4f},{1 if i >= rows - 20 else 0}")
    return "\n".join(lines) + "\n"


# --- the manifest's key --------------------------------------------------------------------------

def test_no_key_keeps_the_papers_windows_with_the_stored_window_settings():
    assert calibration_spec(None) == CalibrationSpec("windows", {})
    assert calibration_spec({}, {"high": 5, "colour": "red"}) == CalibrationSpec(
        "windows", {"high": 5})


def test_a_named_method_and_its_parameters_are_read():
    spec = calibration_spec({"calibration": {"method": "isotonic",
                                             "params": {"pseudo_count": 3}}})
    assert spec == CalibrationSpec("isotonic", {"pseudo_count": 3})


@pytest.mark.parametrize("raw, words", [
    ({"method": "magic"}, "does not know"),
    ({"method": None}, "does not know"),
    ("isotonic", "must be an object"),
    ({"method": "platt", "params": []}, "params must be an object"),
    ({"method": "isotonic", "params": {"bandwidth": 3}}, "takes no parameter"),
    ({"method": "isotonic", "params": {"pseudo_count": -1}}, "impossible value"),
    ({"method": "windows", "params": {"high": 2.5}}, "impossible value"),
    ({"method": "windows", "params": {"low_below": 3}}, "impossible value"),
])
def test_a_key_the_site_cannot_fit_is_refused(raw, words):
    with translation.override("en"):  # messages are lazy: render them in the language asked
        with pytest.raises(CalibrationSpecError) as caught:
            calibration_spec({"calibration": raw})
        assert words in str(caught.value)


def test_the_refusal_is_translated():
    with translation.override("zh-hans"):
        with pytest.raises(CalibrationSpecError) as caught:
            calibration_spec({"calibration": {"method": "magic"}})
        assert "校准方法" in str(caught.value) and "'magic'" in str(caught.value)


def test_the_served_map_uses_the_manifests_method(db):
    data = tiny_model_bytes(1, "4", manifest_extra={"calibration": {"method": "platt"}},
                            baseline=low_baseline())
    install_model(1, "4", data=data)
    served = REGISTRY.snapshot().get(1, "4").calibration
    assert served.method == "platt"
    parsed = parse_baseline_csv(low_baseline())
    scores, severe, _ = baseline_columns(parsed)
    want = fit_map("platt", {}, scores, severe)(np.array([0.3]))[0]
    assert served.lookup(0.3).probability == want


def test_a_file_without_the_key_serves_with_windows(db):
    install_model(1, "4")
    assert REGISTRY.snapshot().get(1, "4").calibration.method == "windows"


# --- upload --------------------------------------------------------------------------------------

@pytest.fixture
def admin_client(db) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(User.objects.create_superuser("root", password="pw-root"))
    return client


def upload(client: Client, data: bytes, language: str = "en"):
    with translation.override(language):
        url = reverse("admin:predictor_modelversion_add")
    return client.post(url, {"horizon": 1, "combination": "4", "context": "", "notes": "",
                             "model_file": SimpleUploadedFile("m.pt", data)},
                       HTTP_ACCEPT_LANGUAGE=language)


@pytest.mark.parametrize("language, words", [
    ("en", "which this site does not know"), ("zh-hans", "本站不支持")])
def test_an_unknown_method_is_refused_at_upload_in_the_admins_language(admin_client, language,
                                                                       words):
    data = tiny_model_bytes(1, "4", manifest_extra={"calibration": {"method": "magic"}})
    response = upload(admin_client, data, language)
    assert response.status_code == 400
    page = unescape(response.content.decode())
    assert words in page
    assert not ModelVersion.objects.exists()
    event = AuditEvent.objects.filter(action=AuditEvent.Action.VALIDATION_FAILED).latest("at")
    assert any("magic" in reason for reason in event.detail["reasons"])


def test_a_known_method_and_a_patient_column_pass_the_upload(admin_client):
    data = tiny_model_bytes(1, "4", manifest_extra={"calibration": {"method": "beta"}},
                            baseline=patient_baseline())
    response = upload(admin_client, data)
    assert response.status_code in (200, 302), response.content[:2000]
    mv = ModelVersion.objects.get()
    assert len(mv.baseline) == 120 and all(len(row) == 3 for row in mv.baseline)


# --- the patient column --------------------------------------------------------------------------

def test_a_patient_column_is_read_beside_probability_and_severe():
    rows = parse_baseline_csv(patient_baseline(40, 4))
    assert rows[0] == (0.0125, 1, "0") and rows[-1][2] == "9"
    scores, severe, patients = baseline_columns(rows)
    assert len(scores) == len(severe) == len(patients) == 40
    assert baseline_columns([(0.1, 0), (0.2, 1)])[2] is None


def test_a_row_without_its_patient_is_refused():
    text = patient_baseline(40).replace(",0,0,3\n", ",0,0,\n", 1)
    with translation.override("en"):
        with pytest.raises(BaselineError) as caught:
            parse_baseline_csv(text)
        assert "has no patient" in str(caught.value)


def test_a_served_file_with_patients_gets_a_patient_bootstrap_interval(db):
    install_model(1, "4", data=tiny_model_bytes(1, "4", baseline=patient_baseline()))
    served = REGISTRY.snapshot().get(1, "4").calibration
    assert served.by_patient
    ref = served.lookup(0.5)
    assert 0 < ref.interval[0] <= ref.probability <= ref.interval[1] < 1


# --- "< 1 %" -------------------------------------------------------------------------------------

@pytest.mark.parametrize("fraction, shown", [
    (0.0001, "< 1"), (0.0099, "< 1"), (0.01, "1"), (0.015, "2"), (0.314, "31"), (0.99, "99"),
    (0.9951, "> 99"), (0.9999, "> 99")])
def test_a_probability_is_never_written_0_or_100(fraction, shown):
    assert shown_percent(fraction) == shown


@pytest.mark.parametrize("fraction, shown", [
    (0.00001, "< 0.1"), (0.0034, "0.3"), (0.0099, "0.9"), (0.02, "2")])
def test_interval_ends_under_1_percent_keep_a_decimal(fraction, shown):
    assert shown_interval_end(fraction) == shown


def test_a_sheet_keeps_numbers_but_writes_under_1_percent_as_text():
    assert sheet_percent(0.314) == 31.4 and sheet_percent(0.004) == "< 1"
    assert sheet_percent(0.996) == "> 99" and sheet_percent(None) is None


@pytest.mark.parametrize("language, sentence", [
    ("en", "Estimated < 1%"), ("zh-hans", "估计 < 1%")])
def test_the_page_writes_under_1_percent_as_less_than_1_in_both_languages(client, db, language,
                                                                          sentence):
    # A strongly negative bias: the raw score sits at the bottom of a baseline whose low end
    # holds no severe day; the answer is small but never 0.
    install_model(1, "4", data=tiny_model_bytes(1, "4", bias=-20.0, baseline=low_baseline()))
    response = client.post(f"/{language}/", {**CYTOKINES, "horizon": "1"})
    assert response.status_code == 200
    html = response.content.decode()
    text = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))
    assert "< 1%" in text and sentence in text
    assert not re.search(r"(?<![\d.])0%", text)  # no "0%" anywhere in the result
    [answer] = __import__("predictor.scoring.prediction", fromlist=["predict"]).predict(
        CYTOKINES, [1], percent_input=False)
    assert 0 < answer.probability < 0.01
