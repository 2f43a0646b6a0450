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
import io
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


def sniff_delimiter(text: str) -> str:
    """Tab, semicolon or comma, from the first non-blank line."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    if "\t" in first:
        return "\t"
    return ";" if first.count(";") > first.count(",") else ","


def read_delimited(text: str, *, source: str, max_rows: int,
                   budget: ReadBudget | None = None) -> Sheet:
    """A Sheet from delimited text (delimiter sniffed from the header line)."""
    if _CONTROL.search(text, 0, 4096):
        raise SheetError.of(_NOT_TEXT)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text),
                        strict=True)

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
