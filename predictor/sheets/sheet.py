"""A sheet as read from any source: its header row and its data rows, cells as they were."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Percent:
    """A number shown as a percentage in Excel (number format ``0%``): ``fraction`` is what
    the cell holds (0.45 shown as 45 %)."""

    fraction: float


@dataclass(frozen=True)
class SheetRow:
    number: int  # the row number the user sees (1 = first line / first Excel row)
    cells: tuple  # str, int, float, Percent, datetime, bool or None, in column order


@dataclass
class Sheet:
    """``headers`` as written (stripped), ``header_row`` their row number, ``rows`` the
    non-blank rows below it. ``source`` is "paste", "csv" or "xlsx"."""

    headers: tuple[str, ...]
    header_row: int
    rows: list[SheetRow] = field(default_factory=list)
    source: str = "paste"


def column_letter(index: int) -> str:
    """Excel's name of the 0-based column ``index`` (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def is_blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
