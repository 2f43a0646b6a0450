"""A value sent twice is refused, never read as one of its copies: a JSON object naming a key
twice (the API, the batch API, FHIR, a Bundle uploaded as a course) and a form field or an
upload sent twice (the prediction form, the batch and validation APIs' sheet uploads). Before,
Python kept the last copy silently: ``{"il6": 48, "il6": 4800}`` scored 4800."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from predictor.fhir.course import course_from_bundle
from predictor.inputs import strict_json
from predictor.inputs.strict_json import RepeatedKey
from predictor.models import PredictionLog
from predictor.sheets import SheetError
from tests.conftest import CYTOKINES
from tests.fhir_bundles import bundle, day_bundle, observation

pytestmark = pytest.mark.django_db


def twice(text: str, key: str, value: str) -> str:
    """``text`` (a JSON object's source) with ``"key": value`` added once more at its end."""
    assert text.endswith("}")
    return f'{text[:-1]}, "{key}": {value}}}'


def test_strict_json_refuses_a_key_named_twice_at_any_depth_and_reads_the_rest_as_json_does():
    assert strict_json.loads(b'{"a": [1, {"b": 2}], "c": null}') == {"a": [1, {"b": 2}],
                                                                     "c": None}
    for text in ('{"a": 1, "a": 1}', '{"x": {"a": 1, "b": 2, "a": 3}}', '[{"a": 1, "a": 2}]'):
        with pytest.raises(RepeatedKey) as caught:
            strict_json.loads(text)
        assert caught.value.key == "a"
    assert issubclass(RepeatedKey, ValueError)  # a caller refusing bad JSON refuses this too
    with pytest.raises(UnicodeDecodeError):
        strict_json.loads(b'{"a": "\xff"}')


def test_the_api_refuses_a_value_named_twice_in_the_users_language(client, tiny_models):
    values = json.dumps({k: float(v) for k, v in CYTOKINES.items()})
    body = json.dumps({"horizon": 1})[:-1] + ', "values": ' + twice(values, "il6", "4800") + "}"
    response = client.post("/api/v1/predict?lang=en", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "“il6” twice" in response.json()["errors"]["__all__"][0]
    response = client.post("/api/v1/predict?lang=zh-hans", data=body,
                           content_type="application/json")
    message = response.json()["errors"]["__all__"][0]
    assert "“il6”" in message and "两次" in message
    one_horizon = twice(json.dumps({"values": json.loads(values), "horizon": 1}), "horizon", "3")
    response = client.post("/api/v1/predict?lang=en", data=one_horizon,
                           content_type="application/json")
    assert response.status_code == 400 and "“horizon”" in response.content.decode()
    assert not PredictionLog.objects.exists()


def test_the_batch_api_refuses_a_row_naming_a_key_twice(client, tiny_models):
    row = twice(json.dumps({"values": CYTOKINES}), "values", json.dumps(CYTOKINES))
    body = '{"horizon": 1, "rows": [' + row + "]}"
    response = client.post("/api/v1/predict/batch?lang=en", data=body,
                           content_type="application/json")
    assert response.status_code == 400
    assert "“values” twice" in response.json()["errors"]["__all__"][0]


def test_fhir_refuses_a_resource_naming_a_key_twice_with_an_operation_outcome(client, tiny_models):
    text = json.dumps(day_bundle({k: float(v) for k, v in CYTOKINES.items()}))
    # The first Observation's value given twice: which one is the patient's?
    first = text.index('"valueQuantity": {"value": ')
    end = text.index("}", first)
    doubled = text[:end] + ', "value": 4800' + text[end:]
    response = client.post("/fhir/r4/RiskAssessment/$predict", data=doubled,
                           content_type="application/fhir+json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "“value” twice" in outcome["issue"][0]["diagnostics"]


def test_a_bundle_uploaded_as_a_course_is_refused_the_same_way():
    text = json.dumps(bundle([observation("il6", 48.0)]))
    doubled = twice(text, "resourceType", '"Bundle"')
    with translation.override("en"), pytest.raises(SheetError) as caught:
        course_from_bundle(doubled.encode())
    with translation.override("en"):
        assert "“resourceType” twice" in str(caught.value.problems[0])


def test_the_form_refuses_a_field_sent_twice_and_keeps_the_page(client, tiny_models):
    data = dict(CYTOKINES, horizon="1")
    body = "&".join(f"{k}={v}" for k, v in data.items()) + "&il6=4800"
    response = client.post("/en/", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    page = response.content.decode()
    assert "“IL-6” was sent 2 times" in page
    assert 'value="3.1"' in page  # what was typed stays in its fields
    assert not PredictionLog.objects.exists()


def test_the_sheet_apis_refuse_two_sheets_or_two_options_in_one_request(client, tiny_models):
    header = "day\t" + "\t".join(CYTOKINES)
    text = f"{header}\n0\t" + "\t".join(CYTOKINES.values()) + "\n"

    def sheet(name):
        return SimpleUploadedFile(name, text.encode(), content_type="text/csv")

    response = client.post("/api/v1/predict/batch?lang=en",
                           {"sheet": [sheet("a.csv"), sheet("b.csv")], "horizon": "1"})
    assert response.status_code == 400
    assert "“sheet” was sent 2 times" in response.json()["errors"]["sheet"][0]
    response = client.post("/api/v1/validate?lang=en",
                           {"sheet": sheet("a.csv"), "horizon": ["1", "3"]})
    assert response.status_code == 400
    assert "“horizon” was sent 2 times" in response.json()["errors"]["horizon"][0]
    response = client.post("/api/v1/predict/batch?lang=en", {"sheet": sheet("a.csv"),
                                                              "horizon": "1"})
    assert response.status_code == 200, response.content
