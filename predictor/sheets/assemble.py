"""From a stream of raw rows (any source) to a Sheet, enforcing the row and column limits while
reading, so an oversized sheet is refused before it is held in memory."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import gettext_lazy as _

from predictor.sheets.errors import SheetError, lazy_format
from predictor.sheets.budget import ReadBudget, unlimited
from predictor.sheets.limits import MAX_COLUMNS, last_row_number
from predictor.sheets.sheet import Sheet, SheetRow, is_blank

_TOO_MANY_ROWS = _("The sheet has more than %(max)s rows; split it into smaller sheets.")
_TOO_MANY_COLUMNS = _("The sheet has more than %(max)s columns; a course sheet has one column "
                      "per lab value plus day, CRS grade and patient.")
_EMPTY = _("The sheet is empty: put the column headers in the first row and one day per row "
           "below them.")
_NO_ROWS = _("The sheet has headers but no rows of values.")


def _trim(cells: Iterable) -> tuple:
    cells = list(cells)
    while cells and is_blank(cells[-1]):
        cells.pop()
    return tuple(cells)


def assemble_sheet(rows: Iterable[tuple[int, Iterable]], *, source: str,
                   max_rows: int, budget: ReadBudget | None = None) -> Sheet:
    """Build a Sheet from ``(row number, cells)`` pairs. The first non-blank row is the
    header row; blank rows are skipped. Raises SheetError when there are more than
    ``max_rows`` data rows or more than MAX_COLUMNS columns (stops reading at once), or when
    the sheet has no header or no data row, a row number beyond ``last_row_number`` (blank
    rows are skipped but still cost time), or when ``budget`` runs out."""
    budget = budget or unlimited()
    last_row = last_row_number(max_rows)
    sheet: Sheet | None = None
    for number, raw in rows:
        budget.check()
        if number > last_row:
            raise SheetError.of(lazy_format(_TOO_MANY_ROWS, max=max_rows), row=number)
        cells = _trim(raw)
        if not cells:
            continue
        if len(cells) > MAX_COLUMNS:
            raise SheetError.of(lazy_format(_TOO_MANY_COLUMNS, max=MAX_COLUMNS), row=number)
        if sheet is None:
            headers = tuple("" if c is None else str(c).strip() for c in cells)
            sheet = Sheet(headers=headers, header_row=number, source=source)
            continue
        if len(sheet.rows) >= max_rows:
            raise SheetError.of(lazy_format(_TOO_MANY_ROWS, max=max_rows), row=number)
        sheet.rows.append(SheetRow(number, cells))
    if sheet is None:
        raise SheetError.of(_EMPTY)
    if not sheet.rows:
        raise SheetError.of(_NO_ROWS)
    return sheet
