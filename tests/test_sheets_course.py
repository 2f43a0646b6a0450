"""Course and cohort sheets read into checked rows: values, units, percentages, days, patients."""

import io

import pytest
from django.utils import translation
from openpyxl import Workbook

from predictor.sheets import SheetError, read_course, read_pasted, read_upload


@pytest.fixture(autouse=True)
def english():
    """Messages are asserted in English; the site's default language is Chinese."""
    with translation.override("en"):
        yield


def xlsx_bytes(rows, *, formats=None):
    """A real .xlsx built with openpyxl; ``formats`` maps "B2" to a number format."""
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(list(row))
    for coordinate, number_format in (formats or {}).items():
        sheet[coordinate].number_format = number_format
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def paste(rows):
    return "\n".join("\t".join("" if c is None else str(c) for c in row) for row in rows)


def problems(sheet, **kwargs):
    with pytest.raises(SheetError) as caught:
        read_course(sheet, **kwargs)
    return caught.value.problems


def test_it_reads_a_pasted_course_in_catalogue_units():
    course = read_course(read_pasted(paste([
        ("day", "crs_grade", "il6", "CRP", "葡萄糖"),
        (0, 0, "12.5", "8", "5,5"),
        (1, "", "120", "", "６．１"),
    ])))
    assert [(r.row, r.day, r.crs_grade) for r in course.rows] == [(2, 0, 0), (3, 1, None)]
    assert course.rows[0].values == {"il6": 12.5, "crp": 8.0, "glucose": 5.5}
    assert course.rows[1].values == {"il6": 120.0, "glucose": 6.1}
    assert not course.is_cohort


def test_it_converts_us_units_named_in_the_header():
    course = read_course(read_pasted(paste([
        ("day", "Glucose (mg/dL)", "Creatinine (mg/dL)", "Albumin (g/dL)", "钙 (mmol/L)"),
        (3, "90.08", "1.0", "3.5", "2.2"),
    ])))
    row = course.rows[0]
    assert row.values["glucose"] == pytest.approx(90.08 / 18.016)
    assert row.values["creatinine"] == pytest.approx(88.42)
    assert row.values["albumin"] == pytest.approx(35.0)
    assert row.values["calcium"] == pytest.approx(2.2)
    assert row.entered["glucose"] == ("90.08", "mg/dL")


def test_the_us_switch_takes_unlabelled_columns_in_us_units():
    sheet = read_pasted(paste([("day", "glucose", "uric acid", "il6"), (0, 99, 6, 30)]))
    row = read_course(sheet, system="us").rows[0]
    assert row.values == {"glucose": pytest.approx(99 / 18.016),
                          "uric_acid": pytest.approx(6 * 59.48), "il6": 30.0}
    # The same sheet read as SI: 99 mmol/L glucose is beyond the hard limit and refused.
    [problem] = problems(sheet)
    assert (problem.row, problem.column) == (2, "glucose")


def test_it_reads_percentages_by_the_header_unit_and_refuses_ambiguous_ones():
    course = read_course(read_pasted(paste([
        ("day", "Neutrophil percentage (%)", "lymphocyte_pct", "monocyte_pct"),
        (0, "65", "0.25", "7%"),
    ])))
    assert course.rows[0].values == {"neutrophil_pct": pytest.approx(0.65),
                                     "lymphocyte_pct": 0.25, "monocyte_pct": pytest.approx(0.07)}
    [problem] = problems(read_pasted(paste([("day", "lymphocyte_pct"), (0, "25")])))
    assert (problem.row, problem.column) == (2, "lymphocyte_pct")
    assert "45%" in str(problem.message)


def test_it_reads_excel_percentage_cells_as_the_fraction_they_hold():
    data = xlsx_bytes([("day", "中性粒细胞百分比 (%)", "淋巴细胞百分比"), (0, 0.62, 0.2)],
                      formats={"B2": "0%", "C2": "0.0%"})
    row = read_course(read_upload(data, name="c.xlsx")).rows[0]
    assert row.values == {"neutrophil_pct": pytest.approx(0.62),
                          "lymphocyte_pct": pytest.approx(0.2)}


def test_it_refuses_a_percentage_for_a_factor_that_is_not_one():
    [problem] = problems(read_pasted(paste([("day", "il6"), (0, "12%")])))
    assert (problem.row, problem.column) == (2, "il6")


def test_it_refuses_text_in_a_number_column_naming_row_and_column():
    data = xlsx_bytes([("day", "IL-6 (pg/mL)", "CRP"), (0, 10, 5), (1, "n/a", 6), (2, 12, "<5")])
    found = problems(read_upload(data, name="c.xlsx"))
    assert [(p.row, p.column) for p in found] == [(3, "IL-6 (pg/mL)"), (4, "CRP")]
    assert "n/a" in str(found[0].message)
    assert "Row 3, column “IL-6 (pg/mL)”" in str(found[0])


def test_it_refuses_an_ambiguous_thousands_comma_with_both_readings():
    [problem] = problems(read_pasted(paste([("day", "ferritin"), (0, "1,234")])))
    assert (problem.row, problem.column) == (2, "ferritin")
    assert "1234" in str(problem.message) and "1.234" in str(problem.message)


def test_validation_messages_follow_the_language_active_when_shown():
    [problem] = problems(read_pasted(paste([("day", "sodium"), (0, "1400")])))
    with translation.override("zh-hans"):
        chinese = str(problem)
    assert chinese != str(problem) and "1400" in chinese and "第 2 行" in chinese


def test_it_refuses_values_beyond_the_hard_limits():
    [problem] = problems(read_pasted(paste([("day", "sodium"), (0, "1400")])))
    assert (problem.row, problem.column) == (2, "sodium")


def test_it_refuses_days_out_of_order_naming_both_rows():
    found = problems(read_pasted(paste([("day", "il6"), (0, 1), (2, 1), (1, 1)])))
    [problem] = found
    assert (problem.row, problem.column) == (4, "day")
    assert "row 3" in str(problem.message)


def test_it_refuses_a_repeated_day_naming_both_rows():
    [problem] = problems(read_pasted(paste([("天数", "il6"), (0, 1), (1, 1), (1, 2)])))
    assert (problem.row, problem.column) == (4, "天数")
    assert "3" in str(problem.message)


@pytest.mark.parametrize("day", ["", "1.5", "-1", "61", "day 1", "3%"])
def test_it_refuses_a_missing_or_invalid_day(day):
    [problem] = problems(read_pasted(paste([("day", "il6"), (day, 1)])))
    assert (problem.row, problem.column) == (2, "day")


def test_it_refuses_a_sheet_without_a_day_column_unless_told_not_to():
    sheet = read_pasted(paste([("il6", "crp"), (1, 2)]))
    [problem] = problems(sheet)
    assert problem.row is None and "day" in str(problem.message)
    assert read_course(sheet, require_day=False).rows[0].values == {"il6": 1.0, "crp": 2.0}


@pytest.mark.parametrize("grade", ["5", "2.5", "G2", "-1"])
def test_it_refuses_an_invalid_crs_grade(grade):
    [problem] = problems(read_pasted(paste([("day", "CRS grade", "il6"), (0, grade, 1)])))
    assert (problem.row, problem.column) == (2, "CRS grade")


def test_a_patient_column_makes_a_cohort_with_days_checked_per_patient():
    data = xlsx_bytes([
        ("患者", "天数", "CRS 分级", "IL-6"),
        ("P1", 0, 0, 10), ("P1", 1, 1, 40), ("P2", 0, 0, 5), (7, 0, 0, 3), ("P2", 1, 2, 90),
    ])
    course = read_course(read_upload(data, name="cohort.xlsx"))
    assert course.is_cohort
    groups = course.patients()
    assert list(groups) == ["P1", "P2", "7"]
    assert [r.day for r in groups["P2"]] == [0, 1]
    assert [r.row for r in groups["P2"]] == [4, 6]


def test_a_cohort_refuses_repeated_days_within_a_patient_and_missing_patients():
    found = problems(read_pasted(paste([
        ("patient", "day", "il6"), ("A", 0, 1), ("B", 0, 1), ("A", 0, 2), ("", 1, 1)])))
    assert [(p.row, p.column) for p in found] == [(4, "day"), (5, "patient")]


def test_non_strict_reading_keeps_problems_on_their_rows():
    course = read_course(read_pasted(paste([("day", "il6"), (0, 1), (1, "x"), (2, 3)])),
                         strict=False)
    assert [r.ok for r in course.rows] == [True, False, True]
    assert course.rows[2].values == {"il6": 3.0}
    assert [(p.row, p.column) for p in course.problems] == [(3, "il6")]


def test_it_refuses_values_in_a_column_without_a_header():
    [problem] = problems(read_pasted(paste([("day", "", "il6"), (0, 5, 1)])))
    assert (problem.row, problem.column) == (2, "B")
    [problem] = problems(read_pasted(paste([("day", "il6"), (0, 1, 9)])))
    assert (problem.row, problem.column) == (2, "C")


def test_it_skips_blank_rows_and_keeps_the_row_numbers_the_user_sees():
    text = "\n\nday\til6\n0\t1\n\n\t\n2\t3\n"
    course = read_course(read_pasted(text))
    assert [(r.row, r.day) for r in course.rows] == [(4, 0), (7, 2)]


def test_it_flags_typical_range_outliers_without_refusing_them():
    row = read_course(read_pasted(paste([("day", "il6"), (0, "50000")]))).rows[0]
    assert row.values == {"il6": 50000.0} and "il6" in row.flags  # over the CAR-T 99.5 %
    usual = read_course(read_pasted(paste([("day", "il6"), (0, "5000")]))).rows[0]
    assert not usual.flags  # high for a healthy adult, usual in CRS


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
def test_it_reads_csv_in_common_encodings(encoding):
    text = "天数,CRS 分级,白细胞介素-6\r\n0,1,12.5\r\n"
    course = read_course(read_upload(text.encode(encoding), name="course.csv"))
    assert course.rows[0].values == {"il6": 12.5} and course.rows[0].crs_grade == 1


def test_it_reads_semicolon_csv_with_decimal_commas():
    data = "day;Glucose (mmol/L);CRP\n0;5,6;12\n1;6,1;\n".encode()
    course = read_course(read_upload(data, name="eu.csv"))
    assert [r.values for r in course.rows] == [{"glucose": 5.6, "crp": 12.0}, {"glucose": 6.1}]


def test_it_reads_comma_csv_with_a_quoted_decimal_comma():
    data = 'day,glucose\n0,"5,6"\n'.encode()
    assert read_course(read_upload(data, name="c.csv")).rows[0].values == {"glucose": 5.6}


def test_row_problems_read_in_the_users_language():
    [problem] = problems(read_pasted(paste([("day", "il6"), (0, "abc")])))
    with translation.override("zh-hans"):
        text = str(problem)
        assert "第 2 行" in text and "不是数字" in text
    with translation.override("en"):
        assert str(problem).startswith("Row 2, column “il6”")


def test_the_exception_caps_the_problem_list_with_a_count():
    rows = [("day", "il6")] + [(day, "x") for day in range(60)]
    found = problems(read_pasted(paste(rows)))
    assert len(found) == 51
    assert "10" in str(found[-1].message) and found[-1].row is None
