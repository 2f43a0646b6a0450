"""An .xlsx workbook's first worksheet as a Sheet.

Order matters: the zip directory is checked (sizes, ratios) before openpyxl inflates anything;
the workbook is opened read-only with ``data_only=True`` (stored values, formulas never
evaluated); formula cells with no stored value are refused by name; rows are read as a stream
with the row and column bounds applied while reading.
"""

from __future__ import annotations

import io
import re

from django.utils.translation import gettext_lazy as _
from openpyxl import load_workbook

from predictor.sheets.assemble import assemble_sheet
from predictor.sheets.errors import Problem, SheetError
from predictor.sheets.formulas import formula_cells_without_value
from predictor.sheets.limits import MAX_COLUMNS
from predictor.sheets.sheet import Percent, Sheet, column_letter
from predictor.sheets.zipguard import BROKEN_XLSX, check_xlsx_zip

_NO_WORKSHEET = _("This workbook has no worksheet to read.")
_FORMULA = _("This cell holds a formula without a stored value (the file was saved without "
             "calculating it); formulas are never evaluated here. Open the file in Excel, "
             "save it, or replace the formula with its value.")
_COORDINATE = re.compile(r"^([A-Z]{1,3})(\d+)$")
_MAX_REPORTED = 20


def _cell_value(cell):
    value = getattr(cell, "value", None)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # A cell formatted as a percentage holds the fraction; keep that reading explicit.
        if "%" in (getattr(cell, "number_format", "") or ""):
            return Percent(float(value))
    return value


def read_xlsx(data: bytes, *, max_rows: int) -> Sheet:
    """The first worksheet of an .xlsx file's bytes. Raises SheetError for a broken file, a
    zip bomb, more than ``max_rows`` rows, or formula cells without a stored value."""
    check_xlsx_zip(data)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except SheetError:
        raise
    except Exception:  # noqa: BLE001 - any failure of a parser fed an untrusted file
        raise SheetError.of(BROKEN_XLSX) from None
    try:
        if not workbook.worksheets:
            raise SheetError.of(_NO_WORKSHEET)
        worksheet = workbook.worksheets[0]
        # openpyxl keeps the open archive and the part's path privately; the scan needs both.
        missing = formula_cells_without_value(workbook._archive, worksheet._worksheet_path)
        # The stored dimension may lie (too small hides rows, too large costs time).
        worksheet.reset_dimensions()
        rows = ((number, (_cell_value(c) for c in row)) for number, row in
                enumerate(worksheet.iter_rows(max_col=MAX_COLUMNS + 1), start=1))
        sheet = assemble_sheet(rows, source="xlsx", max_rows=max_rows)
    except SheetError:
        raise
    except Exception:  # noqa: BLE001
        raise SheetError.of(BROKEN_XLSX) from None
    finally:
        workbook.close()
    if missing:
        raise SheetError([_formula_problem(sheet, coordinate)
                          for coordinate in missing[:_MAX_REPORTED]])
    return sheet


def _formula_problem(sheet: Sheet, coordinate: str) -> Problem:
    match = _COORDINATE.match(coordinate)
    if not match:
        return Problem(_FORMULA, column=coordinate)
    letters, row = match.groups()
    index = 0
    for ch in letters:
        index = index * 26 + ord(ch) - ord("A") + 1
    index -= 1
    header = sheet.headers[index] if index < len(sheet.headers) else ""
    return Problem(_FORMULA, row=int(row), column=header or column_letter(index))
