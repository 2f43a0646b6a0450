"""Delimited text: a paste copied from a spreadsheet (tab-separated) or a .csv file.

Encodings: UTF-8 with or without a BOM, UTF-16 with a BOM (Excel's "Unicode text"), otherwise
GB18030 (a superset of GBK/GB2312, what Chinese Excel writes for "CSV"). Delimiter: whichever of
tab, semicolon and comma occurs most in the header line (tab wins outright), so European CSV
(``;`` with decimal commas) reads as well as comma CSV; a decimal comma inside a comma-separated
file must be quoted, as Excel does.
"""

from __future__ import annotations

import codecs
import csv
import re

from django.utils.translation import gettext_lazy as _

from predictor.sheets.assemble import assemble_sheet
from predictor.sheets.budget import ReadBudget
from predictor.sheets.errors import SheetError
from predictor.sheets.sheet import Sheet

# Control characters other than tab and line ends: binary data, not text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_NOT_TEXT = _("This file is not a spreadsheet: it is neither an .xlsx workbook nor CSV text.")
_ENCODING = _("The text could not be read: save the CSV as UTF-8 (or GB18030).")
_BROKEN = _("The CSV text is malformed (for example an unclosed quotation mark); open it in "
            "a spreadsheet program and save it again.")


def decode_text(data: bytes) -> str:
    """Bytes of a CSV file as text; raises SheetError when they are not text."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise SheetError.of(_ENCODING) from None
    if b"\x00" in data:
        raise SheetError.of(_NOT_TEXT)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise SheetError.of(_ENCODING) from None
    if _CONTROL.search(text):
        raise SheetError.of(_NOT_TEXT)
    return text


# Where str.splitlines() ends a line; every one of them is whitespace to str.strip().
_LINE_ENDS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_LINE_END = re.compile(f"[{_LINE_ENDS}]")
_VISIBLE = re.compile(r"\S")
# A record's physical lines as io.StringIO(text, newline="") splits them: at \r\n, \r or \n.
_PHYSICAL_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def first_visible_line(text: str) -> str:
    """The first line that is not blank (the line of the first non-whitespace character), found
    without splitting the text: a file of five million blank lines split into a list of five
    million strings, ~40 MiB of a worker's memory for a 5 MB upload."""
    visible = _VISIBLE.search(text)
    if visible is None:
        return ""
    at = visible.start()
    start = max(text.rfind(end, 0, at) for end in _LINE_ENDS) + 1
    end = _LINE_END.search(text, at)
    return text[start:end.start() if end else len(text)]


def physical_lines(text: str):
    """The lines of ``text`` with their line ends, one at a time, as io.StringIO(text,
    newline="") gives them, without its copy of the whole text at four bytes a character
    (~20 MiB for 5 MB of CSV): the reader stops at the row limit, the lines after it are never
    made."""
    return (line.group() for line in _PHYSICAL_LINE.finditer(text))


def sniff_delimiter(text: str) -> str:
    """Tab, semicolon or comma, from the first non-blank line."""
    first = first_visible_line(text)
    if "\t" in first:
        return "\t"
    return ";" if first.count(";") > first.count(",") else ","


def read_delimited(text: str, *, source: str, max_rows: int,
                   budget: ReadBudget | None = None) -> Sheet:
    """A Sheet from delimited text (delimiter sniffed from the header line)."""
    if _CONTROL.search(text, 0, 4096):
        raise SheetError.of(_NOT_TEXT)
    reader = csv.reader(physical_lines(text), delimiter=sniff_delimiter(text), strict=True)

    def numbered():
        # Records, not physical lines: a quoted cell may hold a line break, and a spreadsheet
        # program shows such a record as one row.
        number = 0
        try:
            for number, cells in enumerate(reader, start=1):
                yield number, cells
        except csv.Error:
            raise SheetError.of(_BROKEN, row=number + 1) from None

    return assemble_sheet(numbered(), source=source, max_rows=max_rows, budget=budget)
