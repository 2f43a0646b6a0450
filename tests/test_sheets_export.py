"""Templates in both languages read back by the sheet reader; result exports open in openpyxl
and never carry a live formula."""

import csv
import io

import pytest
from openpyxl import load_workbook

from predictor.catalogue import FACTORS
from predictor.sheets import (read_course, read_upload, results_to_csv, results_to_xlsx,
                              template_csv, template_xlsx)
from predictor.sheets.templates import template_headers


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_xlsx_template_reads_back_as_a_two_day_course(language):
    course = read_course(read_upload(template_xlsx(language), name="template.xlsx"))
    assert [(r.day, r.crs_grade) for r in course.rows] == [(0, 0), (1, 1)]
    assert set(course.rows[0].values) == {f.key for f in FACTORS}
    assert course.rows[0].values["neutrophil_pct"] == pytest.approx(0.54)  # 54 under (%)
    assert not course.rows[0].flags  # the examples sit inside the typical ranges


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_csv_template_reads_back_the_same_values(language):
    from_csv = read_course(read_upload(template_csv(language), name="template.csv"))
    from_xlsx = read_course(read_upload(template_xlsx(language), name="template.xlsx"))
    assert [r.values for r in from_csv.rows] == [r.values for r in from_xlsx.rows]
    assert template_csv(language).startswith("\ufeff".encode())


def test_the_templates_use_each_languages_names_with_units():
    en, zh = template_headers("en"), template_headers("zh-hans")
    assert en[:2] == ["day", "CRS grade"] and zh[:2] == ["天数", "CRS 分级"]
    assert "Glucose (mmol/L)" in en and "葡萄糖 (mmol/L)" in zh
    assert "Neutrophil percentage (%)" in en


@pytest.mark.parametrize(("language", "title", "word"), [
    ("en", "Notes", "infusion"), ("zh-hans", "说明", "回输")])
def test_the_xlsx_template_has_a_notes_sheet_in_its_language(language, title, word):
    workbook = load_workbook(io.BytesIO(template_xlsx(language)))
    assert workbook.sheetnames[1] == title
    notes = " ".join(str(c.value) for c in workbook[title]["A"])
    assert word in notes and "mg/dL" in notes
    assert ("葡萄糖 mg/dL" if language == "zh-hans" else "Glucose mg/dL") in notes


ROWS = [
    {"day": 0, "patient": "=HYPERLINK(\"http://evil\")", "probability": 0.31, "note": "+1"},
    {"day": 1, "patient": "@SUM(A1)", "probability": -0.5, "note": "-x"},
    {"day": 2, "patient": "P3", "probability": None, "note": "安全"},
]


def test_the_xlsx_export_opens_in_openpyxl_with_formulas_escaped():
    data = results_to_xlsx(ROWS, language="en", columns=[
        ("day", "Day"), ("patient", "Patient"), ("probability", "Probability"),
        ("note", "Note")])
    sheet = load_workbook(io.BytesIO(data)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == ["Day", "Patient", "Probability", "Note"]
    assert values[1] == [0, "'=HYPERLINK(\"http://evil\")", 0.31, "'+1"]
    assert values[2] == [1, "'@SUM(A1)", -0.5, "'-x"]
    assert values[3] == [2, "P3", None, "安全"]
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_the_csv_export_has_a_bom_and_escapes_formulas():
    data = results_to_csv(ROWS, language="zh-hans")
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["day", "patient", "probability", "note"]
    assert rows[1] == ["0", "'=HYPERLINK(\"http://evil\")", "0.31", "'+1"]
    assert rows[2] == ["1", "'@SUM(A1)", "-0.5", "'-x"]
    assert rows[3] == ["2", "P3", "", "安全"]


def test_the_export_renders_lazy_headers_in_the_requested_language():
    from django.utils.translation import gettext_lazy as _
    header = _("Enter a number, for example 12.5.")
    data = results_to_csv([{"a": 1}], language="zh-hans", columns=[("a", header)])
    assert "请输入数字" in data.decode("utf-8-sig")
    data = results_to_xlsx([{"a": 1}], language="en", columns=[("a", header)])
    assert load_workbook(io.BytesIO(data)).active["A1"].value.startswith("Enter a number")
