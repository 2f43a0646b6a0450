"""Inputs that used to get a 500 or the wrong refusal (issue 18, "zero 5xx"), one test each:
control characters inside a number on the form, non-finite day/grade in a validation row, a
non-JSON media type with a charset on the API (415, not 400), a valid 3 MB paste on the course
page. Django test client, real database, real tiny TorchScript files (tests/conftest.py).
"""

from __future__ import annotations

import json

import pytest

from predictor.inputs.validation import NotANumber, parse_number
from tests.conftest import CYTOKINES

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("raw", ["1\n2", "1\r\n5%", "4\x0b8", "4\x008", "1\u20282", "4\t8",
                                 "1\x852"])
def test_control_characters_inside_a_number_are_refused_not_a_crash(raw):
    with pytest.raises(NotANumber):
        parse_number(raw)


def test_line_ends_around_a_number_are_still_read():
    assert parse_number("48\n") == (48.0, False)
    assert parse_number("\r\n45 %\n") == (45.0, True)


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
@pytest.mark.parametrize("junk", ["4\n8", "4\r\n8", "\x0c48\x01", "4\x008"])
def test_form_answers_newline_in_a_number_with_a_form_error(client, tiny_models, lang, junk):
    data = dict(CYTOKINES, il6=junk, horizon="1")
    response = client.post(f"/{lang}/", data)
    assert response.status_code == 200
    text = response.content.decode()
    assert 'id="error-summary"' in text and 'href="#id_il6"' in text


@pytest.mark.parametrize("field", ["day", "crs_grade", "patient"])
@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_validation_api_refuses_non_finite_day_and_grade(client, tiny_models, field, number):
    rows = [{"patient": 7, "day": d, "crs_grade": 0, "values": CYTOKINES} for d in range(3)]
    given = {"day": 1, "crs_grade": 0, "patient": 7}[field]
    body = json.dumps({"rows": rows, "horizon": 1}).replace(
        f'"{field}": {given}', f'"{field}": {number}', 1)
    assert number in body
    response = client.post("/api/v1/validate?lang=en", data=body,
                           content_type="application/json")
    assert response.status_code == 400, response.content
    assert "rows[" in "".join(response.json()["errors"])


@pytest.mark.parametrize("path", ["/api/v1/predict", "/api/v1/predict/batch",
                                  "/api/v1/validate"])
@pytest.mark.parametrize("content_type", [
    "application/x-www-form-urlencoded; charset=latin-1",
    "application/x-www-form-urlencoded; charset=gbk",
    "text/plain; charset=latin-1"])
def test_api_answers_415_for_a_non_json_media_type_with_a_charset(client, path, content_type):
    response = client.post(f"{path}?lang=en", data=b"a=1", content_type=content_type)
    assert response.status_code == 415, response.content
    assert "application/json" in response.json()["errors"]["__all__"][0]


def test_form_page_still_refuses_a_latin1_form_with_400(client):
    response = client.post("/en/", data=b"il6=48",
                           content_type="application/x-www-form-urlencoded; charset=latin-1")
    assert response.status_code == 400


def _big_course(min_bytes: int) -> str:
    header = "patient\tday\tcrs_grade\t" + "\t".join(CYTOKINES) + "\tnote"
    lines = [header]
    i = 0
    size = len(header)
    while size < min_bytes:
        patient, day = divmod(i, 30)
        line = f"P{patient}\t{day}\t{day % 3}\t" + "\t".join(CYTOKINES.values())
        lines.append(line)
        size += len(line) + 1
        i += 1
    return "\n".join(lines) + "\n", i


def test_a_valid_3mb_paste_is_scored_on_the_course_page(client, tiny_models, settings):
    settings.PRCRS_SHEET_MAX_ROWS = 200_000
    text, _rows = _big_course(3 * 1024 * 1024)
    # Drop the "note" header: the paste must be valid.
    text = text.replace("\tnote", "", 1)
    assert len(text.encode()) > 3 * 1024 * 1024
    response = client.post("/en/course/", {"text": text, "action": "score"})
    assert response.status_code == 200, response.content[:2000]
    assert "patient" in response.content.decode().lower()
    assert "too large" not in response.content.decode()


def test_an_oversized_form_gets_the_course_page_not_a_generic_one(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post("/en/course/", {"text": "x" * 5000, "action": "score"})
    assert response.status_code == 413
    page = response.content.decode()
    assert "too large to send back" in page
    assert 'class="course-form"' in page  # the form is still there to use
