"""The JSON API end to end: Django test client, real database, real tiny TorchScript models."""

from __future__ import annotations

import json

import pytest
import torch
from django.test import Client

from predictor.catalogue import (
    COMBINATION_CODES,
    FACTORS,
    FACTORS_BY_KEY,
    combination_factor_keys,
    panel_factor_keys,
)
from tests.conftest import install_model
from tests.model_files import tiny_model_bytes

PREDICT = "/api/v1/predict"
CATALOGUE = "/api/v1/catalogue"


def typical_values(*panels: int) -> dict[str, float]:
    """A value in the middle of the typical range for every factor of ``panels``."""
    return {key: sum(FACTORS_BY_KEY[key].typical) / 2
            for panel in panels for key in panel_factor_keys(panel)}


ALL_VALUES = typical_values(1, 2, 3, 4)


@pytest.fixture
def client() -> Client:
    # CSRF checks on, as in production: the API must not need a token.
    return Client(enforce_csrf_checks=True)


def post(client: Client, body, *, lang: str | None = "en", content_type="application/json",
         query: str = ""):
    headers = {"HTTP_ACCEPT_LANGUAGE": lang} if lang else {}
    data = json.dumps(body) if not isinstance(body, (str, bytes)) else body
    return client.post(PREDICT + query, data=data, content_type=content_type, **headers)


def errors_of(response) -> dict[str, list[str]]:
    assert response["Content-Type"] == "application/json"
    return response.json()["errors"]


def is_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


# --- 200 -----------------------------------------------------------------------------------------

def test_it_predicts_one_horizon_with_all_four_panels(client, tiny_models):
    response = post(client, {"values": ALL_VALUES, "horizon": 1})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["horizon"] == 1
    assert body["combination"] == "1234"
    assert body["model_version"] == "h1-1234-v1"
    assert 0 <= body["raw_probability"] <= 1
    reference = body["reference"]
    assert 0 < reference["severe"] <= reference["n"]
    # The probability comes from the fitted map, never exactly 0 or 1; K of N is a literal count.
    assert 0 < body["probability"] < 1 and reference["n"] == 40
    lo, hi = body["interval"]  # 95 %, from the calibration map
    assert 0 < lo < body["probability"] < hi < 1
    assert body["context"] is None and "no_lab_reference" not in body
    assert body["ignored"] == [] and body["imputed"] == [] and body["imputed_values"] == {}
    assert body["warnings"] == []
    assert "research" in body["disclaimer"].lower()
    assert (f"of the {reference['n']} reference patient-days with the nearest model scores, "
            f"{reference['severe']} developed severe CRS") in body["explanation"]
    assert response["Content-Language"] == "en"
    assert "no-store" in response["Cache-Control"]


def test_it_needs_no_session_and_sets_no_cookie(client, tiny_models):
    response = post(client, {"values": ALL_VALUES, "horizon": 2})

    assert response.status_code == 200
    assert not response.cookies


def test_it_accepts_a_trailing_slash(client, tiny_models):
    response = client.post(PREDICT + "/", data={"values": ALL_VALUES, "horizon": 3},
                           content_type="application/json")
    assert response.status_code == 200
    assert response.json()["model_version"] == "h3-1234-v1"


def test_it_predicts_all_three_horizons(client, tiny_models):
    response = post(client, {"values": ALL_VALUES, "horizon": "all"})

    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert [p["horizon"] for p in predictions] == [1, 2, 3]
    assert [p["model_version"] for p in predictions] == ["h1-1234-v1", "h2-1234-v1", "h3-1234-v1"]
    for p in predictions:
        assert p["disclaimer"] and p["combination"] == "1234"
    # The tiny models' bias grows with the horizon, so their raw scores differ.
    assert len({p["raw_probability"] for p in predictions}) == 3


def test_a_horizon_given_as_a_string_number_works(client, tiny_models):
    response = post(client, {"values": ALL_VALUES, "horizon": "2"})
    assert response.json()["horizon"] == 2


@pytest.mark.parametrize("code", COMBINATION_CODES)
def test_each_combination_is_served_by_its_own_model(client, tiny_models, code):
    values = {k: ALL_VALUES[k] for k in combination_factor_keys(code)}

    body = post(client, {"values": values, "horizon": 1}).json()

    assert body["combination"] == code
    assert body["model_version"] == f"h1-{code}-v1"


def test_values_outside_the_chosen_combination_are_listed_as_ignored(client, tiny_models):
    values = typical_values(1, 4)

    body = post(client, {"values": values, "horizon": 1}).json()

    assert body["combination"] == "4"
    assert body["ignored"] == list(panel_factor_keys(1))


def test_imputed_values_are_disclosed_with_the_median_used(client, tiny_models):
    values = typical_values(1, 2, 3)
    del values["ferritin"]

    body = post(client, {"values": values, "horizon": 1}).json()

    assert body["combination"] == "123"
    assert body["imputed"] == ["ferritin"]
    median = tiny_models[(1, "123")].manifest["medians"]["ferritin"]
    assert body["imputed_values"] == {"ferritin": pytest.approx(median)}


def test_a_value_outside_the_typical_range_is_flagged_by_name(client, tiny_models):
    values = dict(ALL_VALUES, crp=300)

    body = post(client, {"values": values, "horizon": 1}).json()

    assert body["warnings"] == [
        "C-reactive protein (CRP): 300 mg/L is outside the typical range 0–10 mg/L; "
        "please double-check it."]


def test_a_percentage_string_is_converted_and_a_fraction_is_taken_as_is(client, tiny_models):
    with_percent = post(client, {"values": dict(ALL_VALUES, neutrophil_pct="60%"), "horizon": 1})
    as_fraction = post(client, {"values": dict(ALL_VALUES, neutrophil_pct=0.6), "horizon": 1})

    assert with_percent.status_code == as_fraction.status_code == 200
    assert with_percent.json()["raw_probability"] == as_fraction.json()["raw_probability"]


def test_it_records_each_horizon_in_the_prediction_log(client, tiny_models):
    from predictor.models import PredictionLog

    values = dict(typical_values(1, 2, 3), neutrophil_pct="60%")
    del values["ferritin"]
    body = post(client, {"values": values, "horizon": "all"}).json()

    logged = PredictionLog.objects.filter(channel="api").order_by("horizon")
    assert [row.horizon for row in logged] == [1, 2, 3]
    assert [row.model_version for row in logged] == [p["model_version"] for p in body["predictions"]]
    inputs = logged[0].values["inputs"]
    assert inputs["neutrophil_pct"] == pytest.approx(0.6)  # in model units, as the model saw it
    assert inputs["ferritin"] == pytest.approx(body["predictions"][0]["imputed_values"]["ferritin"])
    assert logged[0].values["imputed"] == ["ferritin"]


def test_nothing_is_logged_for_a_refused_request(client, tiny_models):
    from predictor.models import PredictionLog

    post(client, {"values": {"il2": 1}, "horizon": 1})
    assert not PredictionLog.objects.exists()


# --- 400 -----------------------------------------------------------------------------------------

def test_a_body_that_is_not_json_is_refused(client, db):
    response = post(client, "{values: 1", query="")
    assert response.status_code == 400
    assert errors_of(response) == {"__all__": ["The request body is not valid JSON."]}


def test_a_body_that_is_not_utf8_is_refused(client, db):
    response = post(client, b"\xff\xfe{}")
    assert response.status_code == 400
    assert errors_of(response) == {"__all__": ["The request body is not valid JSON."]}


def test_deeply_nested_json_is_refused_not_a_crash(client, db):
    response = post(client, "[" * 20000 + "]" * 20000)
    assert response.status_code == 400
    assert errors_of(response) == {"__all__": ["The request body is not valid JSON."]}


@pytest.mark.parametrize("body", [[1, 2, 3], "values", 42, None])
def test_a_body_that_is_not_an_object_is_refused(client, db, body):
    response = post(client, json.dumps(body))
    assert response.status_code == 400
    assert list(errors_of(response)) == ["__all__"]
    assert "JSON object" in errors_of(response)["__all__"][0]


@pytest.mark.parametrize("values", [None, [1, 2], "crp=3", 5])
def test_values_that_are_not_an_object_are_refused(client, db, values):
    body = {"horizon": 1} if values is None else {"values": values, "horizon": 1}
    response = post(client, body)
    assert response.status_code == 400
    assert list(errors_of(response)) == ["values"]


def test_an_unknown_factor_is_refused_by_its_key(client, tiny_models):
    response = post(client, {"values": dict(ALL_VALUES, il99=3), "horizon": 1})
    assert response.status_code == 400
    assert errors_of(response) == {"il99": ["Unknown factor."]}


@pytest.mark.parametrize("bad", ["high", "1,2,3", "NaN", True, [1], {"v": 1}])
def test_a_value_that_is_not_a_number_is_refused(client, tiny_models, bad):
    response = post(client, {"values": dict(ALL_VALUES, crp=bad), "horizon": 1})
    assert response.status_code == 400
    assert errors_of(response) == {"crp": ["Enter a number, for example 12.5."]}


def test_a_non_finite_json_number_is_refused(client, tiny_models):
    text = json.dumps({"values": ALL_VALUES, "horizon": 1}).replace(
        '"crp": 5.0', '"crp": Infinity')
    assert "Infinity" in text
    response = post(client, text)
    assert response.status_code == 400
    assert list(errors_of(response)) == ["crp"]


def test_a_huge_json_integer_is_refused_not_a_crash(client, tiny_models):
    text = json.dumps({"values": ALL_VALUES, "horizon": 1}).replace(
        '"crp": 5.0', '"crp": 1' + "0" * 400)
    response = post(client, text)
    assert response.status_code == 400
    assert errors_of(response) == {"crp": ["Enter a number, for example 12.5."]}


def test_a_value_outside_the_hard_limits_is_refused(client, tiny_models):
    response = post(client, {"values": dict(ALL_VALUES, sodium=20), "horizon": 1})
    assert response.status_code == 400
    assert errors_of(response) == {"sodium": [
        "20 mmol/L is outside the accepted range 90–200 mmol/L. Check the value and its unit."]}


def test_a_bare_percentage_above_one_is_refused(client, tiny_models):
    response = post(client, {"values": dict(ALL_VALUES, lymphocyte_pct=45), "horizon": 1})
    assert response.status_code == 400
    [message] = errors_of(response)["lymphocyte_pct"]
    assert "fraction between 0 and 1" in message


def test_fewer_than_five_values_are_refused(client, tiny_models):
    values = {k: ALL_VALUES[k] for k in ("il2", "il4", "il6", "il10")}
    response = post(client, {"values": values, "horizon": 1})
    assert response.status_code == 400
    assert errors_of(response) == {"__all__": ["Please enter at least 5 values."]}


def test_no_usable_combination_names_the_missing_values(client, tiny_models):
    response = post(client, {"values": typical_values(1), "horizon": 1})
    assert response.status_code == 400
    [message] = errors_of(response)["__all__"]
    assert "No panel combination is complete" in message
    # Cheapest completion: the 7 cytokines for the "4" model (rank 3), fewer than any other.
    assert "4 model" in message and "IL-6" in message and "TNF-α" in message
    assert "Sodium" not in message


@pytest.mark.parametrize("horizon", [None, 0, 4, 1.5, "tomorrow", "ALL", True, [1]])
def test_a_bad_horizon_is_refused(client, tiny_models, horizon):
    body = {"values": ALL_VALUES}
    if horizon is not None:
        body["horizon"] = horizon
    response = post(client, body)
    assert response.status_code == 400
    assert list(errors_of(response)) == ["horizon"]


def test_a_bad_horizon_and_bad_values_are_reported_together(client, db):
    response = post(client, {"values": [], "horizon": 9})
    assert response.status_code == 400
    assert set(errors_of(response)) == {"values", "horizon"}


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
def test_a_body_not_sent_as_json_gets_415(client, db, content_type):
    response = client.post(PREDICT, data=json.dumps({"values": ALL_VALUES, "horizon": 1}),
                           content_type=content_type, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 415
    assert "Content-Type: application/json" in errors_of(response)["__all__"][0]


def test_json_with_a_charset_is_accepted(client, tiny_models):
    response = post(client, {"values": ALL_VALUES, "horizon": 1},
                    content_type="application/json; charset=utf-8")
    assert response.status_code == 200


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_predict_takes_only_post(client, db, method):
    response = getattr(client, method)(PREDICT, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert errors_of(response) == {"__all__": ["This address accepts only POST requests."]}


def test_catalogue_takes_only_get(client, db):
    response = client.post(CATALOGUE, data="{}", content_type="application/json")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert list(errors_of(response)) == ["__all__"]


def test_a_too_large_body_gets_413(client, db, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = post(client, {"values": ALL_VALUES, "horizon": 1})
    assert response.status_code == 413
    assert list(errors_of(response)) == ["__all__"]


# --- languages -----------------------------------------------------------------------------------

def test_chinese_is_the_default_language(client, tiny_models):
    values = {k: ALL_VALUES[k] for k in ("il2", "il4")}
    response = post(client, {"values": values, "horizon": 1}, lang=None)

    assert response["Content-Language"] == "zh-hans"
    [message] = errors_of(response)["__all__"]
    assert message != "Please enter at least 5 values."
    assert is_chinese(message) and "5" in message


def test_the_lang_parameter_wins_over_accept_language(client, tiny_models):
    values = {k: ALL_VALUES[k] for k in ("il2", "il4")}
    response = post(client, {"values": values, "horizon": 1}, lang="zh-hans", query="?lang=en")

    assert response["Content-Language"] == "en"
    assert errors_of(response) == {"__all__": ["Please enter at least 5 values."]}


@pytest.mark.parametrize("lang, expected", [("en-US", "en"), ("EN", "en"), ("zh", "zh-hans"),
                                             ("zh-CN", "zh-hans"), ("fr", "en"), ("", "en")])
def test_the_lang_parameter_takes_language_variants(client, db, lang, expected):
    # An unknown or empty ?lang= falls back to Accept-Language (here English).
    response = client.get(CATALOGUE + f"?lang={lang}", HTTP_ACCEPT_LANGUAGE="en")
    assert response["Content-Language"] == expected


def test_errors_come_in_chinese_when_asked(client, tiny_models):
    response = post(client, {"values": dict(ALL_VALUES, crp="abc"), "horizon": 1},
                    lang="zh-CN,zh;q=0.9,en;q=0.5")

    assert response["Content-Language"] == "zh-hans"
    [message] = errors_of(response)["crp"]
    assert is_chinese(message) and "12.5" in message


@pytest.mark.parametrize("body, content_type, status", [
    ("{oops", "application/json", 400),
    ("[]", "application/json", 400),
    ('{"values": [], "horizon": 7}', "application/json", 400),
    ("{}", "text/plain", 415),
])
def test_the_apis_own_messages_come_in_chinese(client, db, body, content_type, status):
    response = post(client, body, lang="zh-hans", content_type=content_type)
    assert response.status_code == status
    for messages in errors_of(response).values():
        assert all(is_chinese(m) for m in messages), messages


def test_a_405_comes_in_chinese(client, db):
    response = client.get(PREDICT, HTTP_ACCEPT_LANGUAGE="zh-hans")
    [message] = errors_of(response)["__all__"]
    assert is_chinese(message) and "POST" in message


def test_a_result_comes_in_chinese(client, tiny_models):
    body = post(client, {"values": ALL_VALUES, "horizon": 1}, lang="zh-hans").json()
    assert is_chinese(body["disclaimer"]) and is_chinese(body["explanation"])
    assert body["horizon_name"] == "明天"


def test_results_name_factors_in_chinese_when_asked(client, tiny_models):
    body = post(client, {"values": dict(ALL_VALUES, crp=300), "horizon": 1},
                query="?lang=zh-hans").json()

    [warning] = body["warnings"]
    assert warning.startswith("C反应蛋白")
    assert body["combination_name"] == "全部四组指标"


# --- 503 -----------------------------------------------------------------------------------------

def test_no_model_at_all_gives_503_not_500(client, db):
    response = post(client, {"values": ALL_VALUES, "horizon": 1})

    assert response.status_code == 503
    [message] = errors_of(response)["__all__"]
    assert "No model is installed for tomorrow with the 1234 panel combination" in message


def test_a_missing_slot_among_all_horizons_gives_503(client, db):
    install_model(1, "1234")
    install_model(3, "1234")

    response = post(client, {"values": ALL_VALUES, "horizon": "all"})

    assert response.status_code == 503
    assert "the day after tomorrow" in errors_of(response)["__all__"][0]


def test_a_missing_slot_does_not_block_other_combinations(client, db):
    install_model(1, "4")

    assert post(client, {"values": typical_values(4), "horizon": 1}).status_code == 200
    assert post(client, {"values": typical_values(2), "horizon": 1}).status_code == 503


class NaNModel(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0], 2), float("nan"))


def test_a_model_that_returns_nan_gives_503_never_a_made_up_probability(client, db):
    install_model(1, "4", data=tiny_model_bytes(1, "4", module=NaNModel()))

    response = post(client, {"values": typical_values(4), "horizon": 1})

    assert response.status_code == 503
    [message] = errors_of(response)["__all__"]
    assert "h1-4-v1 gave no valid result" in message


# --- catalogue -----------------------------------------------------------------------------------

def test_the_catalogue_in_english(client, db):
    response = client.get(CATALOGUE + "?lang=en")

    assert response.status_code == 200
    body = response.json()
    assert body["language"] == "en"
    assert [p["name"] for p in body["panels"]] == [
        "Coagulation and other indicators", "Blood routine", "Biochemistry", "Cytokines"]
    assert [f["key"] for f in body["factors"]] == [f.key for f in FACTORS]
    crp = next(f for f in body["factors"] if f["key"] == "crp")
    # Accepted units (spec section 10) are tested in tests/test_units_api.py.
    assert [u["symbol"] for u in crp.pop("units")] == ["mg/L", "mg/dL"]
    assert crp.pop("us_unit") is None
    assert crp == {"key": "crp", "panel": 3, "position": 34, "name": "C-reactive protein (CRP)",
                   "unit": "mg/L", "help": "", "is_fraction": False,
                   "hard": {"min": 0, "max": 1000}, "typical": {"min": 0, "max": 10}}
    neut = next(f for f in body["factors"] if f["key"] == "neutrophil_pct")
    assert neut["is_fraction"] and neut["unit"] == "fraction (0–1)"
    assert neut["hard"] == {"min": 0, "max": 1} and neut["typical"] == {"min": 0.4, "max": 0.75}
    assert [(c["code"], c["rank"]) for c in body["combinations"]] == [
        ("1234", 1), ("123", 2), ("4", 3), ("23", 4), ("3", 5), ("2", 6)]
    assert body["combinations"][2]["factors"] == list(panel_factor_keys(4))
    assert body["combinations"][0]["name"] == "All four panels"
    assert [h["value"] for h in body["horizons"]] == [1, 2, 3, "all"]
    assert body["horizons"][0]["name"] == "tomorrow"
    assert body["min_values"] == 5


def test_the_catalogue_in_chinese(client, db):
    response = client.get(CATALOGUE, HTTP_ACCEPT_LANGUAGE="zh-hans")

    body = response.json()
    assert response["Content-Language"] == "zh-hans" and body["language"] == "zh-hans"
    assert body["panels"][0]["name"] == "凝血及其他指标"
    crp = next(f for f in body["factors"] if f["key"] == "crp")
    assert crp["name"] == "C反应蛋白"
    tumor = next(f for f in body["factors"] if f["key"] == "tumor_burden")
    assert tumor["help"].startswith("骨髓原幼细胞百分比")
    assert body["combinations"][1]["name"] == "凝血及其他指标、血常规、生化指标"


def test_the_catalogue_follows_an_admin_edit(client, db):
    from predictor.model_versions.versions import bump_serving_stamp
    from predictor.models import Factor

    client.get(CATALOGUE + "?lang=en")
    Factor.objects.filter(key="crp").update(name_en="CRP (hs)", typical_max=8)
    bump_serving_stamp()

    crp = next(f for f in client.get(CATALOGUE + "?lang=en").json()["factors"]
               if f["key"] == "crp")
    assert crp["name"] == "CRP (hs)" and crp["typical"]["max"] == 8

