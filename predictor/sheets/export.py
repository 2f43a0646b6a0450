"""Result tables written as .xlsx or .csv from plain row dicts (the caller decides columns).

Text cells that a spreadsheet would read as a formula (starting with ``= + - @``, tab or
carriage return) are written with a leading apostrophe (OWASP's CSV-injection advice), in both
formats: a patient id or a pasted header must never run as a formula on the reader's machine.
Numbers stay numbers (a negative number is not text and is not escaped).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence

from django.utils.translation import override
from openpyxl import Workbook

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_text(text: str) -> str:
    """``text`` safe to put in a spreadsheet cell."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _plain(value):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    return escape_text(str(value))  # lazy texts render in the active language here


def _columns(rows: Sequence[Mapping], columns) -> list[tuple[str, object]]:
    if columns is not None:
        return [(c, c) if isinstance(c, str) else (c[0], c[1]) for c in columns]
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    return [(key, key) for key in keys]


def _table(rows: Iterable[Mapping], columns) -> tuple[list, list[list]]:
    rows = list(rows)
    spec = _columns(rows, columns)
    header = [_plain(label) for _key, label in spec]
    body = [[_plain(row.get(key)) for key, _label in spec] for row in rows]
    return header, body


def results_to_xlsx(rows: Iterable[Mapping], *, language: str,
                    columns: Sequence[str | tuple[str, object]] | None = None,
                    title: str = "Results") -> bytes:
    """An .xlsx file (bytes) with one header row and one row per dict. ``columns``: keys, or
    (key, header) pairs with lazy headers rendered in ``language``; default: every key seen.
    Values: numbers as numbers, anything else as (escaped) text."""
    with override(language):
        header, body = _table(rows, columns)
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(title=str(title)[:31] or "Results")
        sheet.append(header)
        for line in body:
            sheet.append(line)
        out = io.BytesIO()
        workbook.save(out)
    return out.getvalue()


def results_to_csv(rows: Iterable[Mapping], *, language: str,
                   columns: Sequence[str | tuple[str, object]] | None = None) -> bytes:
    """The same table as UTF-8 CSV with a BOM (so Excel reads the Chinese right), comma
    separated, CRLF line ends."""
    with override(language):
        header, body = _table(rows, columns)
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(["" if v is None else v for v in header])
        for line in body:
            writer.writerow(["" if v is None else (repr(v) if isinstance(v, float) else v)
                             for v in line])
    return ("\ufeff" + text.getvalue()).encode("utf-8")
