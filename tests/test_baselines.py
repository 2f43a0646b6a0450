"""Reading calibration baselines: the spec's CSV and the original PrCRS workbook."""

from __future__ import annotations

import io

import pytest
from django.utils import translation
from openpyxl import Workbook

from predictor.model_versions.baselines import (
    MIN_BASELINE_ROWS,
    BaselineError,
    parse_baseline_csv,
    parse_baseline_file,
    parse_baseline_workbook,
)

ROWS = [(round((i + 0.5) / 30, 4), 1 if i % 3 == 0 else 0) for i in range(30)]


def csv_text(rows=ROWS, header="probability,severe", grade: bool = False) -> str:
    lines = [header + (",grade" if grade else "")]
    for i, (p, y) in enumerate(rows):
        lines.append(f"{p},{y}" + (f",{3 if y else i % 3}" if grade else ""))
    return "\n".join(lines) + "\n"


def workbook_bytes(rows) -> bytes:
    """The original PrCRS baseline: no header; probability, predicted label, true label."""
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def original_rows(rows=ROWS):
    return [(p, int(p >= 0.5), y) for p, y in rows]


@pytest.fixture(autouse=True)
def _english():
    # Messages with numbers are formatted when raised, in the language active then (an admin's).
    with translation.override("en"):
        yield


def message(exc_info) -> str:
    return str(exc_info.value)


# --- accepted ------------------------------------------------------------------------------------

def test_a_csv_with_probability_and_severe():
    assert parse_baseline_csv(csv_text()) == [(p, y) for p, y in ROWS]


def test_a_csv_with_a_grade_column():
    assert parse_baseline_csv(csv_text(grade=True)) == [(p, y) for p, y in ROWS]


def test_a_csv_with_columns_in_another_order_and_a_bom_and_blank_lines():
    lines = ["\ufeffGrade, Severe ,Probability"] + [f"{3 * y},{y},{p}" for p, y in ROWS]
    lines.insert(5, "")
    lines.insert(9, " , ,")
    assert parse_baseline_csv("\r\n".join(lines)) == [(p, y) for p, y in ROWS]


def test_labels_written_as_floats_are_read():
    text = csv_text().replace(",1\n", ",1.0\n").replace(",0\n", ",0.0\n")
    assert parse_baseline_csv(text) == [(p, y) for p, y in ROWS]


def test_the_original_three_column_workbook():
    assert parse_baseline_workbook(workbook_bytes(original_rows())) == [(p, y) for p, y in ROWS]


def test_a_workbook_with_empty_rows_between():
    rows = original_rows()
    rows.insert(3, (None, None, None))
    assert parse_baseline_workbook(workbook_bytes(rows)) == [(p, y) for p, y in ROWS]


def test_the_file_reader_recognises_both_formats():
    expected = [(p, y) for p, y in ROWS]
    assert parse_baseline_file("baseline.csv", csv_text().encode()) == expected
    assert parse_baseline_file("baseline.xlsx", workbook_bytes(original_rows())) == expected
    # Content decides, not the name.
    assert parse_baseline_file("baseline.xlsx", csv_text().encode()) == expected


def test_exactly_the_minimum_number_of_rows_is_enough():
    rows = [(0.5, i % 2) for i in range(MIN_BASELINE_ROWS)]
    assert len(parse_baseline_csv(csv_text(rows))) == MIN_BASELINE_ROWS


# --- refused -------------------------------------------------------------------------------------

@pytest.mark.parametrize("header", ["prob,severe", "probability,label", "0.5,1", ""])
def test_a_csv_without_the_header_is_refused(header):
    text = csv_text(header=header) if header else ""
    with pytest.raises(BaselineError) as exc:
        parse_baseline_csv(text)
    assert "header row" in message(exc)


def test_a_short_line_is_refused_with_its_number():
    text = csv_text().replace("\n0.05,0\n", "\n0.05\n")
    with pytest.raises(BaselineError) as exc:
        parse_baseline_csv(text)
    assert message(exc) == "Baseline line 3 has too few columns."


@pytest.mark.parametrize("bad", ["high", "", "0,5"])
def test_text_where_a_probability_belongs_is_refused(bad):
    text = csv_text().replace("\n0.05,0\n", f"\n\"{bad}\",0\n")
    with pytest.raises(BaselineError) as exc:
        parse_baseline_csv(text)
    assert message(exc) == "Baseline line 3 holds text where a number belongs."


@pytest.mark.parametrize("bad", ["1.2", "-0.1", "nan", "inf"])
def test_a_probability_outside_0_1_is_refused(bad):
    text = csv_text().replace("\n0.05,0\n", f"\n{bad},0\n")
    with pytest.raises(BaselineError) as exc:
        parse_baseline_csv(text)
    assert message(exc) == f"Baseline line 3: probability {bad} is not between 0 and 1."


@pytest.mark.parametrize("bad", ["2", "0.5", "-1"])
def test_a_label_other_than_0_or_1_is_refused(bad):
    text = csv_text().replace("\n0.05,0\n", f"\n0.05,{bad}\n")
    with pytest.raises(BaselineError) as exc:
        parse_baseline_csv(text)
    assert message(exc) == f"Baseline line 3: the label must be 0 or 1, not {bad}."


def test_too_few_rows_are_refused():
    rows = ROWS[: MIN_BASELINE_ROWS - 1]
    with pytest.raises(BaselineError) as exc:
        parse_baseline_csv(csv_text(rows))
    assert message(exc) == (f"The baseline has {MIN_BASELINE_ROWS - 1} rows; at least "
                            f"{MIN_BASELINE_ROWS} are needed.")


@pytest.mark.parametrize("label", [0, 1])
def test_a_baseline_of_one_class_is_refused(label):
    with pytest.raises(BaselineError) as exc:
        parse_baseline_csv(csv_text([(p, label) for p, _ in ROWS]))
    assert "both severe (1) and non-severe (0)" in message(exc)


def test_a_workbook_row_with_text_is_refused_with_its_line():
    rows = original_rows()
    rows[4] = ("n/a", 0, 1)
    with pytest.raises(BaselineError) as exc:
        parse_baseline_workbook(workbook_bytes(rows))
    assert message(exc) == "Baseline line 5 holds text where a number belongs."


def test_a_workbook_with_a_bad_true_label_is_refused():
    rows = original_rows()
    rows[0] = (0.9, 1, 3)  # a CRS grade where the 0/1 label belongs
    with pytest.raises(BaselineError) as exc:
        parse_baseline_workbook(workbook_bytes(rows))
    assert message(exc) == "Baseline line 1: the label must be 0 or 1, not 3."


def test_a_workbook_with_too_few_columns_has_no_rows():
    with pytest.raises(BaselineError) as exc:
        parse_baseline_workbook(workbook_bytes([(p, y) for p, y in ROWS]))
    assert "at least" in message(exc)


@pytest.mark.parametrize("data", [b"PK\x03\x04 not really a zip", b"\xff\xfe\x00garbage"])
def test_a_file_that_is_neither_csv_nor_workbook_is_refused(data):
    with pytest.raises(BaselineError) as exc:
        parse_baseline_file("baseline.bin", data)
    assert message(exc) == "The baseline file is neither a CSV nor an Excel workbook."


def test_a_baseline_error_is_a_value_error():
    # Callers that catch ValueError (bundled-model registration) also catch baseline problems.
    assert issubclass(BaselineError, ValueError)


def test_messages_come_in_the_admins_language():
    with translation.override("zh-hans"), pytest.raises(BaselineError) as exc:
        parse_baseline_csv(csv_text(ROWS[:5]))
    assert message(exc) != "The baseline has 5 rows; at least 20 are needed."
    assert any("\u4e00" <= ch <= "\u9fff" for ch in message(exc))


@pytest.mark.parametrize("header, name", [("probability,severe,probability", "probability"),
                                          ("probability,severe,Severe", "severe"),
                                          ("probability,severe,patient,patient", "patient")])
def test_two_columns_of_one_name_are_refused_not_read_as_the_first(header, name):
    lines = [header] + [f"{p},{y},{p}" + (",P1" if "patient" in header else "")
                        for p, y in ROWS]
    with translation.override("en"), pytest.raises(BaselineError) as caught:
        parse_baseline_csv("\n".join(lines) + "\n")
    with translation.override("en"):
        assert f"two columns named '{name}'" in str(caught.value)
