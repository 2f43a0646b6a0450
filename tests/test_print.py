"""Issue 16 item 6, a result to keep: the printed page's header (date and time, label slot), the
inputs with units, the optional label that never reaches the server, the course downloads with
the inputs beside the predictions, and the sheet box that keeps what was pasted. Django test
client, real database, real tiny TorchScript files, both languages. The printing itself (PDF
pages, date) is tests/test_print_browser.py.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook

from predictor.models import PredictionLog
from tests.conftest import CYTOKINES
from tests.test_course_page import carried, course_text

pytestmark = pytest.mark.django_db
FORM = {**CYTOKINES, "crs_grade": "1", "day": "4", "horizon": "all", "units": "si",
        "neutrophil_pct": "60"}


def result_html(response) -> str:
    match = re.search(r'<section id="result".*?</section>', response.content.decode(), re.S)
    assert match, "no result section"
    return match.group(0)


@pytest.mark.parametrize(("page", "computed", "entered", "label"), [
    ("/en/", "Computed on", "Values entered", "Label for the printout"),
    ("/zh-hans/", "计算时间", "已填写的数值", "打印标签"),
])
def test_the_result_carries_a_print_header_and_the_inputs_with_units(
        tiny_context_models, page, computed, entered, label):
    html = result_html(Client().post(page, FORM))
    today = timezone.localtime().strftime("%Y-%m-%d")
    header = re.search(r'<div class="print-header print-only">.*?</div>', html, re.S).group(0)
    assert computed in header and today in header
    printed = re.search(r'<div class="print-inputs print-only">.*?</div>', html, re.S).group(0)
    assert entered in printed and "48 pg/mL" in printed and "60 %" in printed
    assert label in html


def test_the_label_field_has_no_name_and_belongs_to_no_form(tiny_context_models):
    html = Client().post("/en/", FORM).content.decode()
    field = re.search(r'<input id="print-label"[^>]*>', html).group(0)
    assert "name=" not in field and "form=" not in field
    form = re.search(r'<form id="prediction-form".*?</form>', html, re.S).group(0)
    assert 'id="print-label"' not in form


def test_a_label_posted_anyway_is_not_logged(tiny_context_models):
    Client().post("/en/", {**FORM, "print_label": "Bed 7 JD"})
    assert PredictionLog.objects.exists()
    for row in PredictionLog.objects.all():
        assert "Bed 7" not in repr(vars(row))


@pytest.mark.parametrize(("page", "il6_header", "pct_header"), [
    ("/en/course/", "IL-6 (pg/mL)", "%"),
    ("/zh-hans/course/", "白细胞介素-6 (IL-6) (pg/mL)", "%"),
])
def test_the_course_downloads_hold_the_inputs_beside_the_predictions(
        tiny_context_models, page, il6_header, pct_header):
    client = Client()
    sheet = carried(client.post(page, {"text": course_text(il6=[20, 80, 140, 200])}))
    xlsx = client.post(page, {"sheet": sheet, "action": "course", "download": "xlsx"})
    rows = list(load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    column = header.index(il6_header)
    assert [line[column] for line in body] == [20, 80, 140, 200]
    assert any(h and h.endswith("(mg/L)") for h in header)  # CRP with its unit
    raw = client.post(page, {"sheet": sheet, "action": "course", "download": "csv"})
    table = list(csv.reader(io.StringIO(raw.content.decode("utf-8-sig"))))
    assert [float(line[table[0].index(il6_header)]) for line in table[1:]] == [20, 80, 140, 200]


def test_percentages_are_written_in_percent_with_a_percent_header(tiny_context_models):
    client = Client()
    text = "day\tneutrophil_pct\t" + "\t".join(CYTOKINES) + "\n0\t60%\t" + \
        "\t".join(CYTOKINES.values()) + "\n"
    sheet = carried(client.post("/en/course/", {"text": text}))
    xlsx = client.post("/en/course/", {"sheet": sheet, "action": "course", "download": "xlsx"})
    header, line = list(load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(
        values_only=True))[:2]
    assert line[header.index("Neutrophil percentage (%)")] == pytest.approx(60)


@pytest.mark.parametrize("page", ["/en/course/", "/zh-hans/course/"])
def test_after_scoring_the_sheet_box_keeps_what_was_pasted(tiny_context_models, page):
    text = course_text()
    html = Client().post(page, {"text": text}).content.decode()
    box = re.search(r'<textarea id="course-text"[^>]*>(.*?)</textarea>', html, re.S).group(1)
    assert box.strip() == text.strip()
    assert 'id="course-result"' in html and "print-header" in html
