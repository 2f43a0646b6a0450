"""A patient's course and a cohort from an EHR export (issue 17, item 5): a FHIR Bundle with
several days of Observations becomes the same Course a pasted sheet gives, on the course page
and in the validation API. Bundles built with fhir.resources from hand-made values."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from predictor.cohorts.course_scoring import day_rows, score_rows
from predictor.fhir.course import course_from_bundle
from predictor.sheets import SheetError, read_course, read_pasted
from tests.conftest import CYTOKINES
from tests.fhir_bundles import T0, bundle, infusion, observation
from tests.test_cohort_api import mixed_cohort

CYTO = {k: float(v) for k, v in CYTOKINES.items()}
START = dt.date(2026, 3, 1)


def course_bundle(days: list[tuple[int, int | None, dict]], patient="Patient/p1",
                  with_day_observations=True) -> list[dict]:
    """Observations for (day, grade, values) rows: each day at 07:30 of START + day, plus an
    older value of the same day that must lose to the later one."""
    resources = []
    for day, grade, values in days:
        at = dt.datetime.combine(START + dt.timedelta(days=day), dt.time(7, 30),
                                 tzinfo=dt.timezone.utc)
        resources += [observation(k, v, at=at, patient=patient) for k, v in values.items()]
        resources.append(observation("il6", 99999.0, at=at - dt.timedelta(hours=3),
                                     patient=patient))
        if grade is not None:
            resources.append(observation("crs_grade", grade, at=at, patient=patient))
        if with_day_observations:
            resources.append(observation("day", day, at=at, patient=patient))
    return resources


def test_a_bundle_of_several_days_reads_like_the_pasted_sheet(tiny_context_models):
    rows = [(0, None, CYTO), (1, 1, dict(CYTO, il6=120.0)), (2, 2, dict(CYTO, il6=800.0))]
    course = course_from_bundle(bundle(course_bundle(rows)))
    text = "day\tcrs_grade\t" + "\t".join(CYTO) + "\n" + "".join(
        f"{d}\t{'' if g is None else g}\t" + "\t".join(str(v[k]) for k in CYTO) + "\n"
        for d, g, v in rows)
    pasted = read_course(read_pasted(text), system="si")
    assert not course.is_cohort
    assert [(r.day, r.crs_grade, r.values) for r in course.rows] == \
        [(r.day, r.crs_grade, r.values) for r in pasted.rows]
    ours = score_rows(day_rows(course), [1, 2, 3])
    theirs = score_rows(day_rows(pasted), [1, 2, 3])
    assert [[p.probability for p in o.predictions] for o in ours] == \
        [[p.probability for p in o.predictions] for o in theirs]


def test_the_infusion_procedure_gives_each_days_number(db):
    rows = [(3, 1, CYTO), (5, 2, CYTO)]
    resources = course_bundle(rows, with_day_observations=False) + [infusion(START)]
    assert [r.day for r in course_from_bundle(bundle(resources)).rows] == [3, 5]


def test_without_a_day_the_course_is_refused_with_the_date(db):
    with pytest.raises(SheetError) as error:
        course_from_bundle(bundle(course_bundle([(2, 1, CYTO)], with_day_observations=False)))
    assert "2026-03-03" in str(error.value.problems[0])


def test_the_course_page_reads_an_uploaded_bundle(client, tiny_context_models):
    rows = [(0, None, CYTO), (1, 1, dict(CYTO, il6=120.0)), (2, 2, dict(CYTO, il6=800.0))]
    data = json.dumps(bundle(course_bundle(rows))).encode()
    page = client.post("/en/course/", {"file": SimpleUploadedFile(
        "export.json", data, content_type="application/fhir+json"), "text": ""})
    assert page.status_code == 200
    html = page.content.decode()
    assert len(re.findall(r'class="cell-probability"', html)) >= 3, html[-3000:]


def test_the_course_page_shows_a_bad_bundle_as_a_problem(client, db):
    bad = [observation(k, v, at=T0) for k, v in CYTO.items()]
    bad[0]["valueQuantity"].update({"unit": "mmol/L", "code": "mmol/L"})
    page = client.post("/en/course/", {"file": SimpleUploadedFile(
        "export.json", json.dumps(bundle(bad)).encode()), "text": ""})
    assert page.status_code == 400
    assert "mmol/L" in page.content.decode()


def test_the_validation_api_takes_a_cohort_bundle(client, tiny_context_models):
    rows = mixed_cohort(6, 5)
    resources = []
    for patient in sorted({r["patient"] for r in rows}):
        mine = [(r["day"], r["crs_grade"], {k: float(v) for k, v in r["values"].items()})
                for r in rows if r["patient"] == patient]
        resources += course_bundle(mine, patient=f"Patient/{patient}")
    upload = SimpleUploadedFile("cohort.json", json.dumps(bundle(resources)).encode())
    from_bundle = client.post("/api/v1/validate?lang=en",
                              {"sheet": upload, "horizon": "3", "seed": "5"})
    assert from_bundle.status_code == 200, from_bundle.content[:2000]
    from_json = client.post("/api/v1/validate?lang=en", data=json.dumps(
        {"rows": rows, "horizon": 3, "seed": 5}), content_type="application/json")
    assert from_bundle.json()["horizons"] == from_json.json()["horizons"]
