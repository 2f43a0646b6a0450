"""The entry points: an uploaded file or pasted text to a Sheet, with the size limit first.

The content decides the format, not the name: a zip is read as .xlsx, an OLE2 compound file is
an encrypted .xlsx or an old .xls (both refused with their own message), anything else must be
CSV text. Nothing is written to disk and nothing is kept.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from predictor.sheets.budget import ReadBudget
from predictor.sheets.errors import SheetError, lazy_format
from predictor.sheets.limits import sheet_limits
from predictor.sheets.sheet import Sheet
from predictor.sheets.text import decode_text, read_delimited
from predictor.sheets.xlsx import read_xlsx

_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_BINARY = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"%PDF", b"\x1f\x8b", b"Rar!", b"7z\xbc\xaf")

_TOO_LARGE = _("The file is larger than %(max)s MB; split it into smaller sheets.")
_TEXT_TOO_LARGE = _("The pasted text is longer than %(max)s MB; split it into smaller parts.")
_NOT_SPREADSHEET = _("This file is not a spreadsheet: upload an .xlsx workbook or a .csv file.")
_NOT_XLSX = _("This file is named .xlsx but is not an Excel workbook.")
_ENCRYPTED = _("This .xlsx file is password-protected (encrypted); remove the password in "
               "Excel and upload it again.")
_OLD_XLS = _("Old Excel files (.xls) are not read; save the sheet as .xlsx or .csv in Excel "
             "and upload that.")
_NOTHING = _("The file is empty.")


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):g}"


def _read_bounded(file, max_bytes: int) -> bytes:
    if isinstance(file, (bytes, bytearray, memoryview)):
        data = bytes(file)
    else:
        size = getattr(file, "size", None)  # Django's UploadedFile knows it without reading
        if isinstance(size, int) and size > max_bytes:
            raise SheetError.of(lazy_format(_TOO_LARGE, max=_megabytes(max_bytes)))
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SheetError.of(lazy_format(_TOO_LARGE, max=_megabytes(max_bytes)))
    return data


def read_upload(file, *, name: str = "", max_rows: int | None = None,
                max_bytes: int | None = None) -> Sheet:
    """A Sheet from an uploaded file (bytes or a binary file object; at most
    ``max_bytes + 1`` bytes are ever read from it). ``name`` is the uploaded file name, used
    only to word messages. Raises SheetError with the reasons."""
    limits = sheet_limits()
    max_rows = limits.max_rows if max_rows is None else max_rows
    max_bytes = limits.max_bytes if max_bytes is None else max_bytes
    budget = ReadBudget(limits.read_seconds)
    data = _read_bounded(file, max_bytes)
    if not data:
        raise SheetError.of(_NOTHING)
    lower = (name or "").lower()
    if data.startswith(_ZIP):
        return read_xlsx(data, max_rows=max_rows, budget=budget)
    if data.startswith(_OLE2):
        raise SheetError.of(_ENCRYPTED if _ENCRYPTED_PACKAGE in data else _OLD_XLS)
    if lower.endswith((".xlsx", ".xlsm")):
        raise SheetError.of(_NOT_XLSX)
    if data.startswith(_BINARY):
        raise SheetError.of(_NOT_SPREADSHEET)
    return read_delimited(decode_text(data), source="csv", max_rows=max_rows, budget=budget)


def read_pasted(text: str, *, max_rows: int | None = None,
                max_bytes: int | None = None) -> Sheet:
    """A Sheet from text pasted from a spreadsheet (tab-separated; CSV also works)."""
    limits = sheet_limits()
    max_rows = limits.max_rows if max_rows is None else max_rows
    max_bytes = limits.max_bytes if max_bytes is None else max_bytes
    if len(text) > max_bytes:
        raise SheetError.of(lazy_format(_TEXT_TOO_LARGE, max=_megabytes(max_bytes)))
    return read_delimited(text.lstrip("\ufeff"), source="paste", max_rows=max_rows,
                          budget=ReadBudget(limits.read_seconds))
