"""FHIR R4 in, RiskAssessment out (issue 17): bundles built with fhir.resources from hand-made
values (and from rows of the public sheet when ../shared is present), posted to the real view on
the real test database with real tiny TorchScript models; every answer parsed back with
fhir.resources."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationdefinition import OperationDefinition
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.riskassessment import RiskAssessment

from predictor.catalogue import FACTOR_KEYS, HORIZONS
from predictor.interop.codes import FACTOR_CODES, LOINC
from predictor.scoring.prediction import predict
from predictor.training.data import default_data_dir, load_cart
from tests.conftest import CYTOKINES
from tests.fhir_bundles import T0, bundle, day_bundle, infusion, observation

URL = "/fhir/r4/RiskAssessment/$predict"
VALUES = {k: float(v) for k, v in CYTOKINES.items()}
DATA = default_data_dir()


def post(client, body, content_type="application/fhir+json", lang="en"):
    return client.post(URL, data=json.dumps(body) if not isinstance(body, bytes) else body,
                       content_type=content_type, HTTP_ACCEPT_LANGUAGE=lang)


def risk(response) -> RiskAssessment:
    assert response.status_code == 200, response.content.decode()[:2000]
    assert response["Content-Type"].startswith("application/fhir+json")
    return RiskAssessment.model_validate_json(response.content)


def refusal(response, status: int) -> OperationOutcome:
    assert response.status_code == status, response.content.decode()[:2000]
    outcome = OperationOutcome.model_validate_json(response.content)
    assert all(issue.severity == "error" for issue in outcome.issue)
    return outcome


def test_the_catalogue_lists_codes_with_ucum_units_per_factor_and_context_input(client, db):
    body = client.get("/api/v1/catalogue?lang=en").json()
    by_key = {f["key"]: f for f in body["factors"]}
    assert set(by_key) == set(FACTOR_KEYS)
    assert {"system": LOINC, "code": "26881-3", "unit": "pg/mL"}.items() <= \
        by_key["il6"]["codes"][0].items()
    assert all(f["codes"] and all(c["system"] and c["code"] for c in f["codes"])
               for f in body["factors"])
    glucose_units = {(c["code"], c["unit"]) for c in by_key["glucose"]["codes"]}
    assert ("2345-7", "mg/dL") in glucose_units and ("14749-6", "mmol/L") in glucose_units
    inputs = {i["key"]: i for i in body["context"]["inputs"]}
    assert inputs["crs_grade"]["codes"][0]["code"] == "crs-grade"
    assert {c["code"] for c in inputs["day"]["codes"]} == {"day-since-infusion", "car-t-infusion"}


def test_a_bundle_gets_a_risk_assessment_with_the_json_apis_probabilities(client,
                                                                           tiny_context_models):
    answer = risk(post(client, day_bundle(VALUES, grade=1, day=4)))
    expected = predict(VALUES, list(HORIZONS), percent_input=False,
                       context={"crs_grade": 1, "day": 4})
    assert [p.whenRange.low.value for p in answer.prediction] == [1, 2, 3]
    assert all(p.whenRange.low.value == p.whenRange.high.value for p in answer.prediction)
    assert [float(p.probabilityDecimal) for p in answer.prediction] == \
        pytest.approx([r.probability for r in expected], abs=1e-6)
    assert answer.method.coding[0].code == expected[0].model_version
    assert len(answer.basis) == len(VALUES) + 2  # the labs, the grade and the day
    assert answer.subject.reference == "Patient/p1"
    assert "severe" in answer.prediction[0].outcome.coding[0].code
    assert "Without labs" in answer.prediction[0].rationale


def test_us_units_and_several_loinc_codes_are_converted_by_the_units_module(client,
                                                                           tiny_context_models):
    labs = {k: v for k, v in {"glucose": 6.0, "creatinine": 80.0}.items()}
    sent = [observation(k, v, at=T0) for k, v in VALUES.items()] + [
        observation("glucose", 108.096, code_index=1, unit="mg/dL", as_entered=True),
        observation("creatinine", 80 / 88.42, code_index=1, unit="mg/dL", as_entered=True)]
    answer = risk(post(client, bundle(sent)))
    notes = " ".join(n.text for n in answer.note)
    assert "108.096 mg/dL = 6 mmol/L" in notes
    expected = predict({**VALUES, **labs}, [1], percent_input=False)
    assert float(answer.prediction[0].probabilityDecimal) == \
        pytest.approx(expected[0].probability, abs=1e-6)


def test_d_dimer_in_ddu_and_ng_per_ml_is_taken_as_feu(client, tiny_context_models):
    sent = [observation(k, v) for k, v in VALUES.items()] + [
        observation("d_dimer", 250, code_index=1, unit="ng/mL{DDU}", as_entered=True)]
    notes = " ".join(n.text for n in risk(post(client, bundle(sent))).note)
    assert "250 ng/mL{DDU} = 0.5 µg/mL" in notes and "DDU" in notes


def test_an_unknown_code_is_ignored_and_named(client, tiny_context_models):
    other = observation("il6", 1.0)
    other["code"]["coding"] = [{"system": LOINC, "code": "8867-4", "display": "Heart rate"}]
    other["valueQuantity"] = {"value": 80, "unit": "/min"}
    answer = risk(post(client, day_bundle(VALUES, extra=[other])))
    assert any("8867-4" in n.text for n in answer.note)


def test_values_older_than_24_hours_before_the_newest_are_left_out(client, tiny_context_models):
    sent = [observation(k, v) for k, v in VALUES.items()] + [
        observation("il6", 9999.0, at=T0 - dt.timedelta(hours=25), obs_id="old-il6"),
        observation("il6", 30.0, at=T0 - dt.timedelta(hours=2))]
    answer = risk(post(client, bundle(sent)))
    assert any("older than 24 hours" in n.text for n in answer.note)
    expected = predict(VALUES, [1], percent_input=False)  # il6 = 48 at T0 is the newest
    assert float(answer.prediction[0].probabilityDecimal) == \
        pytest.approx(expected[0].probability, abs=1e-6)


def test_the_infusion_procedure_gives_the_day(client, tiny_context_models):
    sent = [observation(k, v) for k, v in VALUES.items()] + [
        observation("crs_grade", 1), infusion(T0.date() - dt.timedelta(days=4))]
    answer = risk(post(client, bundle(sent)))
    expected = predict(VALUES, [1], percent_input=False, context={"crs_grade": 1, "day": 4})
    assert float(answer.prediction[0].probabilityDecimal) == \
        pytest.approx(expected[0].probability, abs=1e-6)


def test_a_unit_that_does_not_convert_is_a_422_naming_the_element(client, tiny_context_models):
    sent = [observation(k, v) for k, v in VALUES.items()]
    sent[2]["valueQuantity"].update({"unit": "mmol/L", "code": "mmol/L"})
    outcome = refusal(post(client, bundle(sent)), 422)
    assert outcome.issue[0].expression == ["Bundle.entry[2].resource.valueQuantity.code"]
    assert "mmol/L" in outcome.issue[0].diagnostics and "pg/mL" in outcome.issue[0].diagnostics


def test_a_value_out_of_range_is_a_422_naming_the_observation(client, tiny_context_models):
    sent = [observation(k, v) for k, v in VALUES.items()]
    sent[0]["valueQuantity"]["value"] = 9_000_000
    outcome = refusal(post(client, bundle(sent)), 422)
    assert outcome.issue[0].expression[0].startswith("Bundle.entry[0].resource")
    assert "urn:uuid:" in outcome.issue[0].diagnostics


def test_two_values_at_the_same_time_are_a_conflict(client, tiny_context_models):
    sent = [observation(k, v) for k, v in VALUES.items()] + [observation("il6", 12.0)]
    outcome = refusal(post(client, bundle(sent)), 422)
    assert outcome.issue[0].code == "conflict" and len(outcome.issue[0].expression) == 2


def test_a_crs_grade_outside_0_to_4_is_refused(client, tiny_context_models):
    outcome = refusal(post(client, day_bundle(VALUES, grade=7, day=3)), 422)
    assert any("crs-grade" in i.diagnostics or "grade" in i.diagnostics.lower()
               for i in outcome.issue)


@pytest.mark.parametrize("body, status, where", [
    ({"resourceType": "Bundle", "type": "searchset", "entry": []}, 400, "Bundle.type"),
    ({"resourceType": "Patient"}, 400, "Bundle"),
    ({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
        "resourceType": "Observation", "status": "final", "code": {},
        "valueQuantity": {"value": "lots"}}}]}, 400, "Bundle.entry"),
])
def test_structural_problems_are_400s(client, db, body, status, where):
    outcome = refusal(post(client, body), status)
    assert outcome.issue[0].expression[0].startswith(where)


def test_not_json_wrong_type_and_oversize_bodies(client, db, settings):
    refusal(post(client, b"{nope"), 400)
    refusal(post(client, day_bundle(VALUES), content_type="text/plain"), 415)
    settings.PRCRS_FHIR_MAX_BODY_BYTES = 1000
    refusal(post(client, day_bundle(VALUES)), 413)
    outcome = refusal(client.get(URL), 405)
    assert outcome.issue[0].code == "not-supported"


def test_messages_follow_accept_language(client, tiny_context_models):
    sent = [observation(k, v) for k, v in VALUES.items()]
    sent[1]["valueQuantity"].update({"unit": "g", "code": "g"})
    outcome = refusal(post(client, bundle(sent), lang="zh-hans"), 422)
    assert "单位" in outcome.issue[0].diagnostics


def test_metadata_is_a_capability_statement_with_the_operation(client, db):
    response = client.get("/fhir/r4/metadata")
    statement = CapabilityStatement.model_validate_json(response.content)
    assert statement.fhirVersion == "4.0.1"
    operation = statement.rest[0].resource[0].operation[0]
    assert (statement.rest[0].resource[0].type, operation.name) == ("RiskAssessment", "predict")
    definition = OperationDefinition.model_validate_json(
        client.get(operation.definition.replace("http://testserver", "")).content)
    assert (definition.code, definition.resource) == ("predict", ["RiskAssessment"])


@pytest.mark.skipif(not (DATA / "CAR-T.xlsx").exists(),
                    reason=f"public PrCRS sheets not present at {DATA}")
def test_bundles_from_rows_of_the_public_sheet_match_the_json_api(client, tiny_context_models):
    cohort = load_cart(DATA / "CAR-T.xlsx")
    checked = 0
    for i in range(0, len(cohort.day), max(1, len(cohort.day) // 12)):
        values = {k: float(cohort.values[k].iloc[i]) for k in FACTOR_KEYS}
        context = {"crs_grade": int(cohort.grade[i]), "day": int(cohort.day[i])}
        try:
            expected = predict(values, list(HORIZONS), percent_input=False, context=context)
        except Exception:  # noqa: BLE001 - a row the site refuses: the FHIR path must refuse too
            refusal(post(client, day_bundle(values, **_ctx(context))), 422)
            continue
        answer = risk(post(client, day_bundle(values, **_ctx(context))))
        assert [float(p.probabilityDecimal) for p in answer.prediction] == \
            pytest.approx([r.probability for r in expected], abs=1e-6)
        checked += 1
    assert checked >= 5


def _ctx(context):
    return {"grade": context["crs_grade"], "day": context["day"]}


def test_every_factor_code_unit_pair_maps_to_a_unit_the_site_accepts():
    from predictor.inputs.units import find_unit

    for key, codes in FACTOR_CODES.items():
        for code in codes:
            for unit in code.units:
                assert find_unit(key, unit.site_unit) is not None, (key, code.code, unit)


def test_the_code_table_in_the_docs_is_the_one_the_code_writes():
    from predictor.interop.code_table import markdown_table
    from bench.serving import ROOT

    assert markdown_table() in (ROOT / "docs" / "integration.md").read_text(encoding="utf-8")


def test_the_codes_page_lists_every_factor_in_both_languages(client, db):
    for lang, name in (("en", "IL-6"), ("zh-hans", "白细胞介素-6")):
        page = client.get(f"/{lang}/codes/")
        assert page.status_code == 200
        html = page.content.decode()
        assert "26881-3" in html and name in html



def test_every_recorded_source_belongs_to_a_listed_code_and_the_page_names_it(client, db):
    from predictor.interop.codes import CHECKED

    listed = {c.code for codes in FACTOR_CODES.values() for c in codes if c.system == LOINC}
    assert set(CHECKED) <= listed, set(CHECKED) - listed  # no source left for a dropped code
    html = client.get("/en/codes/").content.decode()
    for code in listed & set(CHECKED):
        # the page shows where each confirmed code was checked (its listing's address)
        assert CHECKED[code].split(" ")[0] in html, code

def test_predict_is_rate_limited_like_the_api_with_an_operation_outcome(client,
                                                                       tiny_context_models,
                                                                       settings):
    from predictor.access.rate_limits import LIMITER

    LIMITER.reset()
    settings.PRCRS_RATE_LIMITS = True
    settings.PRCRS_RATE_LIMIT_PREDICTIONS = 1
    try:
        risk(post(client, day_bundle(VALUES)))
        outcome = refusal(post(client, day_bundle(VALUES)), 429)
        assert outcome.issue[0].code == "throttled"
    finally:
        LIMITER.reset()


def test_the_note_carries_the_bedside_scores_as_published_scores(client, tiny_context_models):
    # LDH 300 U/L x CRP 50 mg/L (5 mg/dL) / platelets 100: m-EASIX 15, beside the cytokines.
    extra = [observation("ldh", 300.0), observation("crp", 50.0), observation("platelets", 100.0)]
    answer = risk(post(client, day_bundle(VALUES, grade=1, day=4, extra=extra)))
    notes = [n.text for n in answer.note]
    [m_easix] = [n for n in notes if n.startswith("m-EASIX")]
    assert m_easix.startswith("m-EASIX 15 (log2 3.91;") and "not this site's model" in m_easix
    assert not any(n.startswith("EASIX") for n in notes)  # no creatinine, no EASIX
