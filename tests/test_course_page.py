"""The course page (/<lang>/course/): a pasted or uploaded course, its table and charts, the
downloads, the templates, cohort sheets (patient list, one patient's course, validation on the
sheet), bad sheets and the rate limits. Django test client, real database, real tiny TorchScript
files (tests/conftest.py), in both languages.
"""

from __future__ import annotations

import csv
import html
import io
import re
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import load_workbook

from predictor.models import PredictionLog
from predictor.scoring.batch import BatchRow, predict_batch
from tests.conftest import CYTOKINES

pytestmark = pytest.mark.django_db
EN, ZH = "/en/course/", "/zh-hans/course/"
CYTO = {k: float(v) for k, v in CYTOKINES.items()}


def course_text(days=(0, 1, 2, 3), grades=(None, 1, 1, 2), *, il6=None, patient=None,
                extra_header="", extra=None) -> str:
    """A tab-separated course: cytokines every day, CRP and ferritin rising."""
    header = (["patient"] if patient else []) + ["day", "CRS grade", *CYTOKINES, "crp",
                                                  "ferritin"]
    lines = ["\t".join(header + ([extra_header] if extra_header else []))]
    for i, (day, grade) in enumerate(zip(days, grades)):
        values = dict(CYTOKINES, il6=str(il6[i]) if il6 else CYTOKINES["il6"])
        cells = ([patient] if patient else []) + [str(day), "" if grade is None else str(grade),
                                                  *values.values(), str(10 + 5 * day),
                                                  str(300 * (day + 1))]
        lines.append("\t".join(cells + ([extra[i]] if extra else [])))
    return "\n".join(lines) + "\n"


def cohort_text(patients: dict) -> str:
    """patients: {id: [(day, grade, il6), ...]} -> a tab-separated cohort sheet."""
    lines = ["\t".join(["patient", "day", "crs_grade", *CYTOKINES])]
    for patient, days in patients.items():
        for day, grade, il6 in days:
            values = dict(CYTOKINES, il6=str(il6))
            lines.append("\t".join([patient, str(day), "" if grade is None else str(grade),
                                    *values.values()]))
    return "\n".join(lines) + "\n"


def text_of(html: str) -> str:
    html = re.sub(r"<svg.*?</svg>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def section(response, css_id="course-result") -> str:
    match = re.search(rf'<section[^>]*id="{css_id}".*?</section>', response.content.decode(),
                      re.S)
    assert match, f"no section #{css_id}"
    return match.group(0)


def carried(response) -> str:
    match = re.search(r'name="sheet" value="([^"]+)"', response.content.decode())
    assert match, "the page carries no sheet"
    return match.group(1)


def problems(response) -> str:
    match = re.search(r'id="sheet-problems".*?</div>', response.content.decode(), re.S)
    assert match, "no problem notice"
    return text_of(match.group(0))


def expected(values: dict, context: dict | None, horizon: int):
    outcome = predict_batch([BatchRow(values, context)], [horizon], percent_input=False)[0]
    return outcome.predictions[0]


def whole(p: float) -> int:
    return int(p * 100 + 0.5)


# ----------------------------------------------------------------------------- one course


@pytest.mark.parametrize("url, words", [
    (EN, ("Tomorrow", "without labs", "Risk of severe CRS over the days", "Day since infusion")),
    (ZH, ("明天", "不含化验", "重度 CRS 风险随天数的变化", "输注后天数")),
])
def test_a_pasted_course_shows_each_day_and_horizon_with_interval_reference_and_charts(
        client, tiny_context_models, url, words):
    response = client.post(url, {"text": course_text()})
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0") or "no-cache" in response[
        "Cache-Control"]
    html = section(response)
    text = text_of(html)
    rows = re.findall(r'<tr[^>]*data-row="(\d+)"', html)
    assert rows == ["2", "3", "4", "5"]  # sheet rows, header in row 1
    # Day 1 (grade 1): the labs+context model, with the no-lab reference beside it.
    p = expected(CYTO, {"crs_grade": 1, "day": 1}, 2)
    shown = f"{whole(p.probability)} % ({whole(p.interval[0])}–{whole(p.interval[1])} %)"
    assert shown in text
    assert f"{words[1]} {whole(p.no_lab_reference.probability)} %" in text
    assert "h2-4-ctx-v1" in text and "h2-4-v1" in text  # day 0 has no grade: labs only
    for word in words[:2]:
        assert word in text
    # The charts: risk per horizon (reference dashed) and the key labs entered.
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    risk = next(s for s in svgs if "chart-risk" in s)
    assert words[2] in risk and words[3] in risk and "stroke-dasharray" in risk
    assert risk.count('class="line series-') == 3
    labs = [s for s in svgs if 'class="chart chart-lab' in s]
    assert len(labs) == 5  # IL-6, CRP, ferritin, IL-10, IFN-γ: the key labs in the sheet
    assert any("IL-6" in s for s in labs) and any("pg/mL" in s for s in labs)
    assert "<script" not in html and "style=" not in html  # strict CSP


def test_a_row_that_cannot_be_scored_is_named_and_the_other_days_are_scored(
        client, tiny_context_models):
    text = course_text() + "4\t\t3.1\t\t\t\t\t\t\t\t\n"  # one value, no grade: too few values
    response = client.post(EN, {"text": text})
    assert response.status_code == 200
    html = section(response)
    error_rows = re.findall(r'<tr class="row-error" data-row="(\d+)"', html)
    assert error_rows == ["6"]
    assert "Row 6" in text_of(html)
    assert len(re.findall(r'class="cell-probability"', html)) == 4 * 3


def test_an_uploaded_csv_in_us_units_reads_like_the_paste(client, tiny_context_models):
    pasted = client.post(EN, {"text": course_text()})
    upload = SimpleUploadedFile("course.csv", course_text().replace("\t", ",").encode(),
                                content_type="text/csv")
    uploaded = client.post(EN, {"file": upload, "text": ""})
    assert uploaded.status_code == 200
    cells = re.compile(r'class="cell-probability">([^<]+)<')
    assert cells.findall(section(uploaded)) == cells.findall(section(pasted))


def test_a_file_sent_with_a_leftover_paste_is_scored_and_the_page_says_so(
        client, tiny_context_models):
    def upload():
        return SimpleUploadedFile("course.csv", course_text().replace("\t", ",").encode(),
                                  content_type="text/csv")

    alone = client.post(EN, {"file": upload(), "text": ""})
    assert 'id="file-over-paste"' not in alone.content.decode()
    # The paste box still holds a different sheet (one day only) from the last scoring.
    leftover = "\n".join(course_text().splitlines()[:2]) + "\n"
    both = client.post(EN, {"file": upload(), "text": leftover})
    assert "the rows in the paste box were not" in both.content.decode()
    cells = re.compile(r'class="cell-probability">([^<]+)<')
    assert cells.findall(section(both)) == cells.findall(section(alone))
    assert len(cells.findall(section(both))) > 3  # the file's days, not the paste's one


def test_two_files_or_two_unit_systems_in_one_submission_are_refused(
        client, tiny_context_models):
    def upload(name):
        return SimpleUploadedFile(name, course_text().replace("\t", ",").encode(),
                                  content_type="text/csv")

    response = client.post(EN, {"file": [upload("a.csv"), upload("b.csv")], "text": ""})
    assert response.status_code == 400
    assert "“file” was sent 2 times" in response.content.decode()
    response = client.post(EN, {"text": course_text(), "units": ["si", "us"]})
    assert response.status_code == 400
    page = response.content.decode()
    assert "“units” was sent 2 times" in page
    pasted = re.search(r'<textarea id="course-text"[^>]*>(.*?)</textarea>', page, re.S)
    assert html.unescape(pasted.group(1)).strip() == course_text().strip()  # nothing is lost


# ----------------------------------------------------------------------------- downloads


def test_the_result_downloads_as_a_real_xlsx_and_csv_with_the_page_numbers(
        client, tiny_context_models):
    page = client.post(EN, {"text": course_text()})
    sheet = carried(page)
    before = PredictionLog.objects.count()
    xlsx = client.post(EN, {"sheet": sheet, "action": "course", "download": "xlsx"})
    assert xlsx.status_code == 200
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in xlsx["Content-Disposition"]
    rows = list(load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert len(body) == 4 and header[:3] == ("Sheet row", "Day", "CRS grade")
    p = expected(CYTO, {"crs_grade": 1, "day": 1}, 1)
    column = header.index("Tomorrow: probability (%)")
    assert body[1][column] == pytest.approx(round(p.probability * 100, 1))
    assert body[1][header.index("Tomorrow: without lab values (%)")] == pytest.approx(
        round(p.no_lab_reference.probability * 100, 1))
    assert body[1][header.index("Tomorrow: model version")] == "h1-4-ctx-v1"

    raw = client.post(ZH, {"sheet": sheet, "action": "course", "download": "csv"})
    assert raw.status_code == 200 and raw["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(raw.content.decode("utf-8-sig"))))
    assert len(table) == 5 and "明天" in ",".join(table[0])
    assert float(table[2][table[0].index(next(h for h in table[0]
                                               if h.startswith("明天")))]) == pytest.approx(
        round(p.probability * 100, 1))
    # Downloads re-score the carried sheet; the rows were logged once, when first scored.
    assert PredictionLog.objects.count() == before


@pytest.mark.parametrize("language, day_header", [("en", "day"), ("zh-hans", "天数")])
def test_the_templates_download_in_each_language_and_score_as_they_are(
        client, tiny_context_models, language, day_header):
    xlsx = client.get(f"/{language}/course/template.xlsx")
    assert xlsx.status_code == 200 and "attachment" in xlsx["Content-Disposition"]
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.active.cell(1, 1).value == day_header
    csv_file = client.get(EN + f"template.csv?language={language}")
    assert csv_file.status_code == 200
    assert csv_file.content.decode("utf-8-sig").split(",", 1)[0] == day_header
    scored = client.post(f"/{language}/course/", {"file": SimpleUploadedFile(
        "template.xlsx", xlsx.content)})
    assert scored.status_code == 200
    assert len(re.findall(r'class="cell-probability"', section(scored))) == 2 * 3
    assert client.get(EN + "template.pdf").status_code == 404


# ----------------------------------------------------------------------------- privacy


def test_the_page_says_what_is_logged_and_logs_each_scored_day_without_identifiers(
        client, tiny_context_models, settings):
    settings.PRCRS_PREDICTION_LOG = True
    response = client.post(EN, {"text": cohort_text({"SECRET-42": [(0, 1, 48), (1, 2, 60)]})})
    assert "The prediction log is on" in text_of(response.content.decode())
    entries = list(PredictionLog.objects.values())
    assert len(entries) == 2 * 3
    assert "SECRET-42" not in repr(entries)
    settings.PRCRS_PREDICTION_LOG = False
    response = client.post(ZH, {"text": course_text()})
    assert "预测日志已关闭" in text_of(response.content.decode())
    assert PredictionLog.objects.count() == 2 * 3


# ----------------------------------------------------------------------------- cohorts


def separating_cohort(n: int = 6, days: int = 6) -> dict:
    """Half the patients at grade 3 with a huge IL-6 every day, half at grade 0 with a low one:
    every day's outcome is known except the last k, and labs and grade both separate them."""
    cohort = {}
    for i in range(n):
        severe = i % 2 == 0
        cohort[f"P{i}"] = [(d, 3 if severe else 0, 20000 if severe else 1) for d in range(days)]
    return cohort


def test_a_cohort_sheet_lists_patients_with_peak_risk_and_opens_one_patient(
        client, tiny_context_models):
    cohort = {"A-1": [(0, 0, 10), (1, 1, 900), (2, 1, 50)], "B-2": [(3, 0, 5), (5, 2, 20)]}
    response = client.post(EN, {"text": cohort_text(cohort)})
    assert response.status_code == 200
    html = section(response)
    assert re.findall(r'<tr data-patient="([^"]+)"', html) == ["A-1", "B-2"]
    text = text_of(html)
    assert "A cohort of 2 patients" in text and "Validate on this sheet" in text
    # The first day with the highest probability (a calibrated map can give days equal ones).
    peak = max(((expected(dict(CYTO, il6=il6), {"crs_grade": g, "day": d}, 1).probability, d)
                for d, g, il6 in cohort["A-1"]), key=lambda found: found[0])
    assert f"{whole(peak[0])} % (day {peak[1]})" in text

    opened = client.post(ZH, {"sheet": carried(response), "action": "cohort",
                              "open_patient": "B-2"})
    assert opened.status_code == 200
    html = section(opened)
    assert "患者 B-2" in text_of(html)
    assert re.findall(r'data-row="(\d+)"', html) == ["5", "6"]
    assert "chart-risk" in html
    # Its download holds that patient's rows only.
    xlsx = client.post(EN, {"sheet": carried(opened), "action": "patient", "patient": "B-2",
                            "download": "xlsx"})
    rows = list(load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == ["B-2", "B-2"]
    unknown = client.post(EN, {"sheet": carried(opened), "open_patient": "nobody"})
    assert unknown.status_code == 400 and "nobody" in problems(unknown)


@pytest.mark.parametrize("url, words", [
    (EN, ("AUROC", "all scored days", "seed 7", "Without lab values")),
    (ZH, ("AUROC", "全部已评分的天", "种子 7", "不含化验值")),
])
def test_validation_on_a_separating_cohort_gives_the_known_answer_on_the_page(
        client, tiny_context_models, url, words):
    listed = client.post(url, {"text": cohort_text(separating_cohort())})
    response = client.post(url, {"sheet": carried(listed), "action": "cohort", "validate": "1",
                                 "seed": "7"})
    assert response.status_code == 200
    html = section(response)
    text = text_of(html)
    for word in words:
        assert word in text
    horizons = re.findall(r'<article class="validation-horizon" data-horizon="(\d)"', html)
    assert horizons == ["1", "2", "3"]
    # 6 patients x 6 days; the last k days of each have no outcome day in the sheet.
    for k in (1, 2, 3):
        block = html.split(f'data-horizon="{k}"')[1]
        assert f"{36 - 6 * k}" in text_of(block.split("</p>")[0])
        auroc_row = re.search(r"<th scope=\"row\">AUROC.*?</tr>", block, re.S).group(0)
        cells = re.findall(r"<td>([^<]*)</td>", auroc_row)
        assert cells[0] == "1.00 (1.00 – 1.00)"  # labs separate every patient, every resample
        figure = r"[01]\.\d\d \([01]\.\d\d – [01]\.\d\d\)"
        assert re.fullmatch(figure, cells[1])  # grade and day alone, on the same days
        assert re.fullmatch(r"[+-]" + figure.replace("(", "([+-]", 1).replace("– ", "– [+-]"),
                            cells[2])
    assert html.count('class="chart chart-calibration"') >= 3


def test_validation_is_offered_only_for_a_cohort_with_grades(client, tiny_context_models):
    no_grades = cohort_text({"A": [(0, None, 5), (1, None, 9)], "B": [(0, None, 7)]})
    response = client.post(EN, {"text": no_grades})
    assert "Validate on this sheet" not in text_of(section(response))
    asked = client.post(EN, {"sheet": carried(response), "validate": "1"})
    assert asked.status_code == 200 and "validation-horizon" not in asked.content.decode()


def test_the_language_switch_reopens_the_same_view_in_the_other_language(
        client, tiny_context_models):
    listed = client.post(EN, {"text": cohort_text(separating_cohort(4, 4))})
    assert 'form="course-carry"' in listed.content.decode()
    switched = client.post(ZH, {"sheet": carried(listed), "action": "cohort",
                                "switch_language": "zh-hans"})
    assert switched.status_code == 200
    assert "4 名患者" in text_of(section(switched))


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("url, words", [
    (EN, ("Row 3", "column “il6”", "not a number")),
    (ZH, ("第 3 行", "“il6”", "不是数字")),
])
def test_a_bad_sheet_is_refused_with_a_message_naming_row_and_column(
        client, tiny_context_models, url, words):
    response = client.post(url, {"text": course_text((0, 1), (0, 1), il6=["48", "lots"])})
    assert response.status_code == 400
    message = problems(response)
    for word in words:
        assert word in message
    assert 'id="course-result"' not in response.content.decode()  # nothing half-done shown
    assert "lots" in response.content.decode()  # the paste is kept for correcting


@pytest.mark.parametrize("upload, words", [
    (SimpleUploadedFile("scan.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64), "not a spreadsheet"),
    (SimpleUploadedFile("broken.xlsx", b"this is not a workbook"), "not an Excel workbook"),
])
def test_a_file_that_is_not_a_sheet_is_refused_with_a_clear_message(
        client, tiny_context_models, upload, words):
    response = client.post(EN, {"file": upload})
    assert response.status_code == 400 and words in problems(response)


def test_days_out_of_order_and_a_tampered_carry_are_refused_not_500(client, tiny_context_models):
    response = client.post(EN, {"text": course_text((2, 1), (0, 0))})
    assert response.status_code == 400 and "out of order" in problems(response)
    response = client.post(EN, {"sheet": "not-a-carried-sheet!", "action": "course"})
    assert response.status_code == 400 and "paste or upload it again" in problems(response)
    response = client.post(EN, {"text": "   "})
    assert response.status_code == 400


def test_the_page_refuses_over_the_rate_limit_with_429_in_the_page_language(
        client, tiny_context_models, settings):
    from predictor.access.rate_limits import LIMITER

    LIMITER.reset()
    settings.PRCRS_RATE_LIMITS = True
    settings.PRCRS_RATE_LIMIT_PREDICTIONS = 6  # 4 days (one prediction each) fit once, not twice
    try:
        first = client.post(EN, {"text": course_text()}, REMOTE_ADDR="192.0.2.81")
        second = client.post(ZH, {"text": course_text()}, REMOTE_ADDR="192.0.2.81")
    finally:
        LIMITER.reset()
    assert first.status_code == 200
    assert second.status_code == 429 and second["Retry-After"].isdigit()
    assert any("\u4e00" <= ch <= "\u9fff" for ch in problems(second))


def test_the_empty_page_offers_the_form_templates_and_the_privacy_note(client, db):
    for url, word in ((EN, "What happens to the sheet"), (ZH, "表格")):
        response = client.get(url)
        assert response.status_code == 200
        text = text_of(response.content.decode())
        assert word in text and "template.xlsx" in response.content.decode()
        assert 'aria-current="page"' in re.search(
            r'<nav class="site-nav".*?</nav>', response.content.decode(), re.S).group(0)


def test_the_unit_switch_reads_unlabelled_columns_in_us_units(client, tiny_context_models):
    text = course_text((0, 1), (0, 1), extra_header="glucose", extra=["90", "126"])
    si = client.post(EN, {"text": text, "units": "si"})
    assert si.status_code == 400 and "glucose" in problems(si)  # 90 mmol/L is implausible
    us = client.post(EN, {"text": text, "units": "us"})
    assert us.status_code == 200
    assert len(re.findall(r'class="cell-probability"', section(us))) == 2 * 3


def test_a_form_too_large_for_the_server_gets_a_message_not_a_500(client, db, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post(EN, {"text": "day\til6\n" + "1\t2\n" * 1000})
    assert response.status_code == 413 and "too large" in problems(response)


def test_rows_keep_their_numbers_in_the_users_sheet_through_every_round_trip(
        client, tiny_context_models):
    text = ("\n\n" + cohort_text({"A": [(0, 1, 5), (1, 1, 9)],
                                                     "B": [(0, 0, 7), (2, 1, 8)]})
            .replace("\nB\t0", "\n\nB\t0"))  # blank lines above, a blank row inside
    listed = client.post(EN, {"text": text})
    assert listed.status_code == 200
    opened = client.post(EN, {"sheet": carried(listed), "open_patient": "B"})
    assert re.findall(r'data-row="(\d+)"', section(opened)) == ["7", "8"]
    back = client.post(EN, {"sheet": carried(opened), "action": "patient", "patient": "B",
                            "show": "cohort"})
    assert re.findall(r'<tr data-patient="([^"]+)"', section(back)) == ["A", "B"]
    xlsx = client.post(EN, {"sheet": carried(back), "download": "xlsx"})
    rows = list(load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True))
    assert [r[1] for r in rows[1:]] == [4, 5, 7, 8]


def test_an_upload_stays_in_memory_and_an_oversized_one_is_refused_by_its_size(
        client, tiny_context_models, settings, tmp_path):
    # Were Django to spill the upload into a temporary file, this folder does not exist.
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "no-such-folder")
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 16
    upload = SimpleUploadedFile("course.csv", course_text().replace("\t", ",").encode())
    assert client.post(EN, {"file": upload}).status_code == 200
    settings.PRCRS_SHEET_MAX_BYTES = 64 * 1024
    big = SimpleUploadedFile("big.csv", course_text().encode() + b"0\t" * 60_000)
    response = client.post(ZH, {"file": big})
    assert response.status_code == 400 and "0.0625 MB" in problems(response)


def test_the_page_still_checks_the_csrf_token(tiny_context_models):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.post(EN, {"text": course_text()}).status_code == 403
    page = strict.get(EN)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    response = strict.post(EN, {"text": course_text(), "csrfmiddlewaretoken": token.group(1)})
    assert response.status_code == 200


def test_a_course_sheet_never_writes_0_and_writes_under_1_percent_as_text(client):
    # Every horizon served by files whose answer is far under 1 %: the download says "< 1",
    # never 0.0, and the page says "< 1 %".
    from predictor.catalogue import CONTEXT_BOTH, HORIZONS, REFERENCE_COMBINATION
    from tests.conftest import install_model
    from tests.model_files import tiny_model_bytes

    low = "probability,severe\n" + "".join(
        f"{(i + 0.5) / 200:.4f},{1 if i >= 180 else 0}\n" for i in range(200))
    for h in HORIZONS:
        for code, context in (("4", ""), ("4", CONTEXT_BOTH),
                              (REFERENCE_COMBINATION, CONTEXT_BOTH)):
            install_model(h, code, context=context, data=tiny_model_bytes(
                h, code, bias=-20.0, context=context, baseline=low))
    page = client.post(EN, {"text": course_text()})
    assert "< 1 %" in text_of(section(page))
    raw = client.post(EN, {"sheet": carried(page), "action": "course", "download": "csv"})
    table = list(csv.reader(io.StringIO(raw.content.decode("utf-8-sig"))))
    header = table[0]
    for h in ("Tomorrow", "The day after tomorrow", "In three days"):
        for name in (f"{h}: probability (%)", f"{h}: 95 % interval, low (%)"):
            column = header.index(name)
            assert {row[column] for row in table[1:]} == {"< 1"}, name
    assert not any(cell in ("0", "0.0", "100", "100.0") for row in table[1:] for cell in row[3:])
