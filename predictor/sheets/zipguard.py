"""The .xlsx zip directory checked before any part of it is inflated (zip bombs).

Python's zipfile never inflates an entry past the size its directory declares (a lying entry
fails its CRC check), so bounding the declared sizes bounds what openpyxl can inflate.
"""

from __future__ import annotations

import io
import zipfile

from django.utils.translation import gettext_lazy as _

from predictor.sheets.errors import SheetError
from predictor.sheets.limits import (MAX_COMPRESSION_RATIO, MAX_UNCOMPRESSED_BYTES,
                                     MAX_ZIP_ENTRIES, RATIO_CHECKED_ABOVE_BYTES)

BROKEN_XLSX = _("This .xlsx file is damaged and cannot be read; open it in Excel and save it "
                "again.")
_NOT_WORKBOOK = _("This file is a zip archive but not an Excel workbook (.xlsx).")
_BOMB = _("This .xlsx file inflates to far more data than a course sheet can hold (a "
          "compressed “zip bomb”?); it was not opened.")
_ENCRYPTED = _("This .xlsx file is password-protected; remove the password in Excel and "
               "upload it again.")


def check_xlsx_zip(data: bytes) -> None:
    """Refuse (SheetError) a zip that is broken, is not a workbook, is encrypted, or whose
    declared uncompressed sizes or compression ratios are out of bounds. Reads the directory
    only."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError):
        raise SheetError.of(BROKEN_XLSX) from None
    if len(entries) > MAX_ZIP_ENTRIES:
        raise SheetError.of(_BOMB)
    names = {entry.filename for entry in entries}
    if len(names) != len(entries):  # two parts of one name: readers differ on which is read
        raise SheetError.of(BROKEN_XLSX)
    if "[Content_Types].xml" not in names or not any(
            n.lower().endswith("workbook.xml") for n in names):
        raise SheetError.of(_NOT_WORKBOOK)
    if any(entry.flag_bits & 0x1 for entry in entries):
        raise SheetError.of(_ENCRYPTED)
    total = 0
    for entry in entries:
        total += entry.file_size
        if total > MAX_UNCOMPRESSED_BYTES:
            raise SheetError.of(_BOMB)
        if entry.file_size > RATIO_CHECKED_ABOVE_BYTES and (
                entry.file_size > MAX_COMPRESSION_RATIO * max(entry.compress_size, 1)):
            raise SheetError.of(_BOMB)
