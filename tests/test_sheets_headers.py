"""Header matching for course sheets, in both languages, with and without units."""

import pytest
from django.utils import translation

from predictor.catalogue import FACTORS
from predictor.sheets import SheetError, match_headers
from predictor.sheets.headers import CRS_GRADE, DAY, FACTOR, PATIENT, header_aliases


def one(header, **kwargs):
    [column] = match_headers([header], **kwargs)
    return column


@pytest.mark.parametrize(("header", "key"), [
    ("il6", "il6"), ("IL-6", "il6"), ("il 6", "il6"), ("白细胞介素-6 (IL-6)", "il6"),
    ("白细胞介素-6", "il6"), ("TNF_ALPHA", "tnf_alpha"), ("TNF-α", "tnf_alpha"),
    ("Procalcitonin (PCT)", "pct"), ("Procalcitonin", "pct"), ("PCT", "pct"),
    ("降钙素原", "pct"), ("  glucose  ", "glucose"), ("GLUCOSE", "glucose"),
    ("葡萄糖", "glucose"), ("Neutrophil percentage", "neutrophil_pct"),
    ("neutrophil_pct", "neutrophil_pct"), ("中性粒细胞百分比", "neutrophil_pct"),
    ("D-dimer", "d_dimer"), ("d_dimer", "d_dimer"), ("D-二聚体", "d_dimer"),
    ("Ｃ反应蛋白", "crp"), ("problast", "tumor_burden"), ("chlorine", "chloride"),
    ("α-HBDH", "hbdh"), ("γ-GT", "ggt"),
])
def test_it_matches_keys_and_names_in_both_languages(header, key):
    column = one(header)
    assert (column.kind, column.key, column.header) == (FACTOR, key, header)
    assert not column.unit_written


def test_it_matches_every_factor_by_key_and_both_names():
    for spec in FACTORS:
        for header in (spec.key, spec.name_en, spec.name_zh, spec.name_en.upper()):
            assert one(header).key == spec.key, header


@pytest.mark.parametrize(("header", "key", "unit"), [
    ("glucose (mg/dL)", "glucose", "mg/dL"), ("Glucose (mg/dl)", "glucose", "mg/dL"),
    ("葡萄糖 (mmol/L)", "glucose", "mmol/L"), ("葡萄糖（mg/dL）", "glucose", "mg/dL"),
    ("葡萄糖【mg/dL】", "glucose", "mg/dL"), ("creatinine [µmol/L]", "creatinine", "µmol/L"),
    ("Albumin (g/dL)", "albumin", "g/dL"), ("白细胞介素-6 (IL-6) (pg/mL)", "il6", "pg/mL"),
    ("Procalcitonin (PCT) (ng/mL)", "pct", "ng/mL"), ("wbc (10^9/L)", "wbc", "×10⁹/L"),
    ("红细胞 (×10¹²/L)", "rbc", "×10¹²/L"), ("Neutrophil percentage (%)", "neutrophil_pct", "%"),
])
def test_a_unit_in_the_header_sets_the_column_unit(header, key, unit):
    column = one(header)
    assert (column.key, column.unit.symbol, column.unit_written) == (key, unit, True)


def test_the_us_switch_applies_to_columns_without_a_unit_only():
    assert one("glucose", system="us").unit.symbol == "mg/dL"
    assert one("glucose (mmol/L)", system="us").unit.symbol == "mmol/L"
    assert one("il6", system="us").unit.symbol == "pg/mL"
    assert one("glucose").unit.symbol == "mmol/L"


@pytest.mark.parametrize(("header", "kind"), [
    ("day", DAY), ("Day", DAY), ("DAYS", DAY), ("天", DAY), ("天数", DAY), ("day (d)", DAY),
    ("Days since infusion", DAY), ("输注后天数", DAY),
    ("crs_grade", CRS_GRADE), ("CRS grade", CRS_GRADE), ("CRS 分级", CRS_GRADE),
    ("crs分级", CRS_GRADE), ("CRS grade (ASTCT)", CRS_GRADE),
    ("patient", PATIENT), ("Patient ID", PATIENT), ("患者", PATIENT), ("患者编号", PATIENT),
])
def test_it_matches_the_context_columns_in_both_languages(header, kind):
    assert one(header).kind == kind


def problems_of(headers, **kwargs):
    with pytest.raises(SheetError) as caught:
        match_headers(headers, **kwargs)
    return caught.value.problems


def test_it_refuses_an_unknown_unit_for_a_known_factor_naming_the_column():
    [problem] = problems_of(["day", "glucose (mg/L)"])
    assert problem.column == "glucose (mg/L)"
    assert "mg/L" in str(problem.message) and "mg/dL" in str(problem.message)


def test_it_refuses_unknown_headers_and_lists_them_all():
    problems = problems_of(["day", "Glucosa", "il6", "blood pressure"])
    assert [p.column for p in problems] == ["Glucosa", "blood pressure"]


def test_it_refuses_a_unit_on_the_day_column():
    [problem] = problems_of(["day (mg/dL)"])
    assert problem.column == "day (mg/dL)"


def test_it_refuses_duplicate_headers():
    [problem] = problems_of(["day", "il6", "IL6"])
    assert problem.column == "IL6" and "il6" in str(problem.message)


def test_it_refuses_two_headers_naming_the_same_factor():
    [problem] = problems_of(["葡萄糖 (mmol/L)", "Glucose (mg/dL)"])
    assert problem.column == "Glucose (mg/dL)"
    assert "葡萄糖 (mmol/L)" in str(problem.message)


def test_it_refuses_two_day_columns():
    [problem] = problems_of(["day", "天数"])
    assert problem.column == "天数"


def test_header_problems_read_in_the_users_language():
    [problem] = problems_of(["day", "Glucosa"])
    with translation.override("zh-hans"):
        assert "未知" in str(problem)
    with translation.override("en"):
        assert "Unknown column" in str(problem)


def test_no_spelling_means_two_different_columns():
    aliases = header_aliases()  # raises RuntimeError on an ambiguous spelling
    assert aliases["il6"] == (FACTOR, "il6")
    assert aliases["pt"] == (FACTOR, "pt")
    assert aliases["patient"] == (PATIENT, None)
