"""The streaming .xlsx reader's bounds and readings, without a server: the wall-clock budget's
own message, values beyond column 128 refused the same way in a workbook and in CSV, and the
XML shapes other writers use (namespace prefixes, rich and phonetic text, shared strings)."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.utils import translation

from bench.hostile_sheets import (MAIN, SHEET, base_workbook, duplicate_zip_parts,
                                  far_column_values, one_cell_written_again, rows_out_of_order,
                                  unreadable_cell_reference, with_parts, with_shared_strings)
from predictor.sheets import SheetError, read_course, read_upload


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def refused(data, name="s.xlsx") -> str:
    with pytest.raises(SheetError) as caught:
        read_upload(data, name=name)
    return " ".join(str(p) for p in caught.value.problems)


@override_settings(PRCRS_SHEET_READ_SECONDS=0.0)
def test_a_read_past_its_budget_says_so_not_that_the_file_is_damaged():
    rows = [("day", "il6")] + [(i % 60, 1) for i in range(2000)]
    assert "too long to read" in refused(base_workbook(rows))
    text = "day,il6\n" + "0,1\n" * 2000
    assert "too long to read" in refused(text.encode(), "s.csv")


def test_values_beyond_column_128_are_refused_in_a_workbook_and_in_csv_alike():
    assert "column GR" in refused(far_column_values(rows=3))
    line = "," * 199 + "5"
    text = "day,il6\n" + f"0,1{line}\n"
    assert "columns" in refused(text.encode(), "s.csv")


def test_a_workbook_with_prefixed_names_and_shared_strings_reads_like_any_other():
    xml = (f'<?xml version="1.0"?><x:worksheet xmlns:x="{MAIN}"><x:sheetData>'
           '<x:row r="1"><x:c r="A1" t="s"><x:v>0</x:v></x:c>'
           '<x:c r="B1" t="inlineStr"><x:is><x:r><x:t>IL</x:t></x:r><x:r><x:t>-6</x:t></x:r>'
           '<x:rPh><x:t>phonetic</x:t></x:rPh></x:is></x:c></x:row>'
           '<x:row r="2"><x:c r="A2"><x:v>3</x:v></x:c><x:c r="B2" t="s"><x:v>1</x:v></x:c>'
           '</x:row></x:sheetData></x:worksheet>')
    sst = (f'<sst xmlns="{MAIN}" count="2" uniqueCount="2"><si><t>day</t></si>'
           '<si><r><t>4</t></r><r><t>8</t></r><rPh><t>x</t></rPh></si></sst>').encode()
    data = with_shared_strings(with_parts(base_workbook(), {SHEET: xml.encode()}), sst)
    course = read_course(read_upload(data, name="p.xlsx"))
    assert [(r.day, r.values) for r in course.rows] == [(3, {"il6": 48.0})]


def test_a_formula_cell_beyond_the_stored_values_is_named():
    xml = (f'<worksheet xmlns="{MAIN}"><sheetData><row r="1">'
           '<c r="A1" t="inlineStr"><is><t>day</t></is></c>'
           '<c r="B1" t="inlineStr"><is><t>il6</t></is></c></row>'
           '<row r="2"><c r="A2"><v>0</v></c><c r="B2"><f>A2*2</f><v></v></c></row>'
           '</sheetData></worksheet>')
    message = refused(with_parts(base_workbook(), {SHEET: xml.encode()}))
    assert "Row 2" in message and "formula" in message


def sheet_of(rows: str) -> bytes:
    xml = (f'<worksheet xmlns="{MAIN}"><sheetData><row r="1">'
           '<c r="A1" t="inlineStr"><is><t>day</t></is></c>'
           f'<c r="B1" t="inlineStr"><is><t>il6</t></is></c></row>{rows}</sheetData></worksheet>')
    return with_parts(base_workbook(), {SHEET: xml.encode()})


def days_and_il6(data: bytes) -> list[tuple[int, dict]]:
    return [(r.day, r.values) for r in read_course(read_upload(data, name="p.xlsx")).rows]


def test_a_cell_written_twice_is_refused_not_read_as_its_last_value():
    assert "two values in one cell" in refused(one_cell_written_again(times=3))
    assert "two values in one cell" in refused(sheet_of(
        '<row r="2"><c r="A2"><v>0</v></c><c r="B2"><v>48</v></c><c r="A2"><v>1</v></c></row>'))


def test_rows_repeated_or_backwards_are_refused_naming_the_row():
    assert "Row 2: " in refused(rows_out_of_order()) and "out of order" in refused(
        rows_out_of_order())
    assert "Row 2: " in refused(sheet_of(
        '<row r="2"><c r="A2"><v>0</v></c></row><row r="2"><c r="A2"><v>1</v></c></row>'))


def test_a_reference_excel_would_not_write_is_refused_by_name_not_placed_by_guess():
    assert "“ZZZZZ2”" in refused(unreadable_cell_reference())
    for reference in ("A0", "1A", "A3", "A2B"):  # no column, no row, another row, neither
        message = refused(sheet_of(f'<row r="2"><c r="{reference}"><v>0</v></c></row>'))
        assert message.startswith("Row 2: ") and f"“{reference}”" in message
    assert "“abc”" in refused(sheet_of('<row r="abc"><c><v>0</v></c></row>'))


def test_a_cell_type_outside_the_standard_is_refused():
    assert "damaged" in refused(sheet_of('<row r="2"><c r="A2" t="zz"><v>0</v></c></row>'))


def test_two_zip_parts_of_one_name_are_refused_as_damaged():
    assert "damaged" in refused(duplicate_zip_parts())


def test_rows_and_cells_without_references_read_in_order_and_may_skip_rows():
    assert days_and_il6(sheet_of(
        '<row><c><v>0</v></c><c><v>48</v></c></row>'  # row 2, columns A and B by position
        '<row><c r="A5"><v>1</v></c><c><v>50</v></c></row>'  # row 5 by its cell's reference
        '<row r="7"><c r="A7"><v>2</v></c><c r="B7"><v>52</v></c></row>')) == [
        (0, {"il6": 48.0}), (1, {"il6": 50.0}), (2, {"il6": 52.0})]


def test_the_new_refusals_read_in_chinese():
    with translation.override("zh-hans"):
        message = refused(rows_out_of_order())
    assert "顺序颠倒" in message and "第 2 行" in message
