"""An .xlsx workbook's first worksheet as a Sheet, read as a bounded stream.

Order matters: the zip directory is checked (sizes, ratios) before anything is inflated; the
worksheet's declared dimension is checked before its rows; rows are read as they stream, only
the rows present in the file (a cell at row 1,048,576 does not make a million empty rows), their
number and position bounded while reading, and every XML part is parsed without DTDs or
entities (``predictor.sheets.safe_xml``) under the request's wall-clock budget. Stored values are
used, formulas never evaluated; a formula cell with no stored value is refused by name, since it
would otherwise read as an empty cell and silently lose a lab value.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile

from django.utils.translation import gettext_lazy as _

from predictor.sheets.assemble import assemble_sheet
from predictor.sheets.budget import ReadBudget, unlimited
from predictor.sheets.errors import Problem, SheetError, lazy_format
from predictor.sheets.limits import EXCEL_MAX_COLUMNS, MAX_COLUMNS, last_row_number
from predictor.sheets.safe_xml import Collector, feed, local
from predictor.sheets.sheet import Percent, Sheet, column_letter, is_blank
from predictor.sheets.xlsx_parts import Package, read_package
from predictor.sheets.zipguard import BROKEN_XLSX, check_xlsx_zip

_FORMULA = _("This cell holds a formula without a stored value (the file was saved without "
             "calculating it); formulas are never evaluated here. Open the file in Excel, "
             "save it, or replace the formula with its value.")
_ROW_TOO_FAR = _("The sheet uses row %(row)s, but a sheet of at most %(max)s rows may use rows "
                 "1 to %(last)s only: delete the rows below the data, or split the sheet.")
_COLUMN_TOO_FAR = _("The sheet has a value in column %(column)s; a course sheet uses the first "
                    "%(max)s columns only: move the value or delete the column.")
_TWO_READINGS = _("This .xlsx file puts two values in one cell, or lists rows or cells out of "
                  "order: other programs could read it another way, so it was not read. Open "
                  "it in Excel and save it again.")
_BAD_REFERENCE = _("This .xlsx file places a value by “%(reference)s”, a reference Excel would "
                   "never write, so the value's place is unknown. Open the file in Excel and "
                   "save it again.")
_COORDINATE = re.compile(r"([A-Za-z]{1,3})([1-9]\d{0,6})")
_ROW_NUMBER = re.compile(r"[1-9]\d{0,6}")
# The cell types of the standard (ECMA-376 ST_CellType); any other is not a workbook's.
_CELL_TYPES = frozenset({"b", "d", "e", "inlineStr", "n", "s", "str"})
_DIMENSION = re.compile(r"(?:[A-Za-z]{1,3}\d{1,7}:)?([A-Za-z]{1,3})(\d{1,7})")
_MAX_REPORTED = 20
_DATE_MARK = dt.date(1900, 1, 1)  # a cell shown as a date: refused whatever its value
_NO_STORED_VALUE = object()  # a formula cell saved without its value


def _column_index(letters: str) -> int:
    index = 0
    for ch in letters.upper():
        index = index * 26 + ord(ch) - ord("A") + 1
    return index - 1


def _number(text: str):
    # As openpyxl reads a stored number: an integer unless it has a point or an exponent.
    text = text.strip()
    if "." in text or "e" in text or "E" in text or text.lower() in ("nan", "inf", "-inf"):
        return float(text)
    return int(text)


class _WorksheetRows(Collector):
    """SAX handler of one worksheet part: finished rows, ``(row number, cells)``, go to
    ``ready`` with the bounds applied as they stream; ``missing`` collects formula cells
    without a stored value."""

    def __init__(self, package: Package, *, max_rows: int):
        super().__init__()
        self.strings = package.shared_strings
        self.formats = package.formats
        self.max_rows = max_rows
        self.last_row = last_row_number(max_rows)
        self.missing: list[tuple[int, int]] = []
        self.row_number = 0
        self.row_declared = False  # whether the row being read gave its own number
        self.rows_seen = 0
        self.cells: list = []
        self.column = -1
        self.text: list[str] | None = None  # collecting <v> or an inline <t>
        self.cell: dict = {}

    def _too_far(self, row: int) -> SheetError:
        return SheetError.of(lazy_format(_ROW_TOO_FAR, row=row, max=self.max_rows,
                                         last=self.last_row), row=row)

    def _check_dimension(self, ref: str | None) -> None:
        match = _DIMENSION.fullmatch(ref or "")
        if not match:
            return  # no dimension, or one Excel would not write: the rows are bounded anyway
        letters, row = match.groups()
        if int(row) > self.last_row:
            raise self._too_far(int(row))
        if _column_index(letters) >= EXCEL_MAX_COLUMNS:
            raise SheetError.of(BROKEN_XLSX)

    def startElement(self, name, attrs):  # noqa: N802 - the SAX interface
        name = local(name)
        if name == "c":
            self.cell = {"r": attrs.get("r"), "t": attrs.get("t", "n"), "s": attrs.get("s"),
                         "v": None, "f": False, "inline": None}
        elif name == "v":
            self.text = []
        elif name == "f":
            self.cell["f"] = True
        elif name == "is":
            self.cell["inline"] = []
        elif name == "t" and self.cell.get("inline") is not None:
            self.text = []
        elif name == "rPh" and self.cell.get("inline") is not None:
            self.cell["phonetic"] = True
        elif name == "row":
            self.rows_seen += 1
            self.row_declared = attrs.get("r") is not None
            self.row_number = self._next_row_number(attrs.get("r"))
            if self.row_number > self.last_row or self.rows_seen > self.last_row:
                raise self._too_far(self.row_number)
            self.cells, self.column = [], -1
        elif name == "dimension":
            self._check_dimension(attrs.get("ref"))

    def _next_row_number(self, declared: str | None) -> int:
        """The row's number: its own ``r``, or the next one when it has none. Rows come in
        ascending order in every workbook Excel writes; a repeated or backward number would
        give two readings of the same sheet, and a number that is not one has no reading."""
        if declared is None:
            return self.row_number + 1
        if not _ROW_NUMBER.fullmatch(declared):
            if declared.isdigit() and len(declared) > 7:  # a number, just far beyond any sheet
                raise self._too_far(int(declared))
            raise SheetError.of(lazy_format(_BAD_REFERENCE, reference=declared[:20]),
                                row=self.row_number + 1)
        number = int(declared)
        if number <= self.row_number:
            raise SheetError.of(_TWO_READINGS, row=number)
        return number

    def characters(self, content):
        if self.text is not None:
            self.text.append(content)

    def endElement(self, name):  # noqa: N802
        name = local(name)
        if name == "v":
            self.cell["v"] = "".join(self.text or ())
            self.text = None
        elif name == "t" and self.text is not None:
            if not self.cell.get("phonetic"):
                self.cell["inline"].append("".join(self.text))
            self.text = None
        elif name == "rPh":
            self.cell["phonetic"] = False
        elif name == "c":
            self._place()
            self.cell = {}
        elif name == "row":
            if self.cells:
                self.ready.append((self.row_number, self.cells))
            self.cells = []

    def _value(self) -> object:
        cell = self.cell
        kind, stored = cell["t"], cell["v"]
        if kind == "inlineStr":
            return "".join(cell["inline"]) if cell["inline"] is not None else None
        if stored is None or not stored.strip():
            return _NO_STORED_VALUE if cell["f"] else None
        try:
            if kind == "s":
                return self.strings[int(stored)]
            if kind in ("str", "e"):
                return stored
            if kind == "b":
                return stored.strip() in ("1", "true")
            if kind == "d":
                return _DATE_MARK
            number = _number(stored)
            style = int(cell["s"] or 0)
        except (ValueError, IndexError, OverflowError):
            raise SheetError.of(BROKEN_XLSX) from None
        if style in self.formats.dates:
            return _DATE_MARK
        if style in self.formats.percents:
            return Percent(float(number))
        return number

    def _cell_column(self) -> int:
        """The column of the cell just read: from its own reference, or the next one when it
        has none. A reference must name this row and a column right of the row's last cell:
        anything else would be a guess between two readings."""
        declared = self.cell["r"]
        if declared is None:
            return self.column + 1
        reference = _COORDINATE.fullmatch(declared)
        if reference is not None and self.column < 0 and not self.row_declared:
            self._renumber_row(int(reference.group(2)))
        if reference is None or int(reference.group(2)) != self.row_number:
            raise SheetError.of(lazy_format(_BAD_REFERENCE, reference=declared[:20]),
                                row=self.row_number)
        column = _column_index(reference.group(1))
        if column <= self.column:
            raise SheetError.of(_TWO_READINGS, row=self.row_number)
        return column

    def _renumber_row(self, number: int) -> None:
        """A row without its own number takes its first cell's, if that lies below the rows
        before it (a writer that numbers cells only)."""
        previous = self.row_number - 1  # the row before was numbered this
        if number > previous:
            if number > self.last_row:
                raise self._too_far(number)
            self.row_number = number

    def _place(self) -> None:
        """Put the cell just read in its row's cells, by its own reference."""
        column = self._cell_column()
        row = self.row_number
        if column >= EXCEL_MAX_COLUMNS or self.cell["t"] not in _CELL_TYPES:
            raise SheetError.of(BROKEN_XLSX)
        self.column = column
        value = self._value()
        if value is _NO_STORED_VALUE:
            if len(self.missing) < _MAX_REPORTED:
                self.missing.append((row, column))
            return
        if is_blank(value):
            return
        if column >= MAX_COLUMNS:
            raise SheetError.of(lazy_format(_COLUMN_TOO_FAR, column=column_letter(column),
                                            max=MAX_COLUMNS), row=row)
        if column >= len(self.cells):
            self.cells.extend([None] * (column + 1 - len(self.cells)))
        self.cells[column] = value


def read_xlsx(data: bytes, *, max_rows: int, budget: ReadBudget | None = None) -> Sheet:
    """The first worksheet of an .xlsx file's bytes. Raises SheetError for a broken or unsafe
    file, a zip bomb, rows or values beyond the bounds, more than ``max_rows`` rows, formula
    cells without a stored value, or a read that outlasts ``budget``."""
    budget = budget or unlimited()
    check_xlsx_zip(data)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            package = read_package(archive, budget)
            reader = _WorksheetRows(package, max_rows=max_rows)
            with archive.open(package.worksheet) as source:
                sheet = assemble_sheet(feed(source, reader, budget), source="xlsx",
                                       max_rows=max_rows, budget=budget)
    except SheetError:
        raise
    except Exception:  # noqa: BLE001 - any other failure on an untrusted file
        raise SheetError.of(BROKEN_XLSX) from None
    if reader.missing:
        raise SheetError([_formula_problem(sheet, row, column) for row, column in reader.missing])
    return sheet


def _formula_problem(sheet: Sheet, row: int, column: int) -> Problem:
    header = sheet.headers[column] if column < len(sheet.headers) else ""
    return Problem(_FORMULA, row=row, column=header or column_letter(column))
