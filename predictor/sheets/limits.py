"""How large a sheet may be. Everything here is checked before the content is parsed."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

# A course has a handful of context columns and 42 factors; more columns than this is not a
# course sheet, and bounding it bounds the work per row.
MAX_COLUMNS = 128
# Excel's own maximum: a row number above it can only come from a crafted file.
MAX_ROW_NUMBER = 1_048_576
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


def sheet_limits() -> SheetLimits:
    """The configured limits (settings PRCRS_SHEET_MAX_ROWS, PRCRS_SHEET_MAX_BYTES)."""
    return SheetLimits(max_rows=getattr(settings, "PRCRS_SHEET_MAX_ROWS", 10_000),
                       max_bytes=getattr(settings, "PRCRS_SHEET_MAX_BYTES", 5 * 1024 * 1024))
