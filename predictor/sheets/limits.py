"""How large a sheet may be. Everything here is checked before the content is parsed."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

# A course has a handful of context columns and 42 factors; more columns than this is not a
# course sheet, and bounding it bounds the work per row.
MAX_COLUMNS = 128
# Excel's own maxima: a row or column beyond them can only come from a crafted file.
MAX_ROW_NUMBER = 1_048_576
EXCEL_MAX_COLUMNS = 16_384
# Blank rows are skipped, but every row costs time to read: the rows a sheet may use are its
# data rows, twice over for blank lines between them, plus room for notes above the headers.
BLANK_ROW_ALLOWANCE = 1_000
# Shared strings are the distinct texts of text cells: headers, patient ids, a few notes. A
# course sheet holds numbers; 100,000 distinct texts (ten per row of a 10,000-row sheet) read
# in about a second, a million took 11 s.
MAX_SHARED_STRINGS = 100_000
# Cell formats: Excel itself stops at 64,000.
MAX_CELL_STYLES = 64_000
# The .xlsx zip directory: 10,000 rows x 45 columns of numbers is about 20 MB of sheet XML
# (64 MB leaves a threefold margin), and real workbooks compress 5-20 fold; a zip bomb needs a
# huge inflated size or a huge ratio, and either is refused.
MAX_UNCOMPRESSED_BYTES = 64 * 1024 * 1024
MAX_COMPRESSION_RATIO = 100
RATIO_CHECKED_ABOVE_BYTES = 1024 * 1024  # tiny parts (styles, themes) may compress extremely
MAX_ZIP_ENTRIES = 500


@dataclass(frozen=True)
class SheetLimits:
    max_rows: int
    max_bytes: int
    read_seconds: float = 6.0


def sheet_limits() -> SheetLimits:
    """The configured limits (settings PRCRS_SHEET_MAX_ROWS, PRCRS_SHEET_MAX_BYTES,
    PRCRS_SHEET_READ_SECONDS)."""
    return SheetLimits(max_rows=getattr(settings, "PRCRS_SHEET_MAX_ROWS", 10_000),
                       max_bytes=getattr(settings, "PRCRS_SHEET_MAX_BYTES", 5 * 1024 * 1024),
                       read_seconds=getattr(settings, "PRCRS_SHEET_READ_SECONDS", 6.0))


def last_row_number(max_rows: int) -> int:
    """The last row number a sheet of at most ``max_rows`` data rows may use."""
    return min(2 * max_rows + BLANK_ROW_ALLOWANCE, MAX_ROW_NUMBER)
