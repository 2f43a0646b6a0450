"""Which column is which: header matching in both languages, with units.

A header names a factor by its key (``il6``), its English or Chinese name (``IL-6``,
``白细胞介素-6 (IL-6)``), its abbreviation (``PCT``), the name without its parenthesis
(``Procalcitonin``) or the column name of the original PrCRS sheet; case, spaces, ``_`` and
``-`` do not matter, nor full-width forms. A unit may follow in parentheses or brackets
(``glucose (mg/dL)``, ``葡萄糖【mmol/L】``) and then sets that column's unit; without one the
column is in the catalogue unit, or in the US unit when the sheet is read with ``system="us"``.
The context columns are ``day``, ``crs_grade`` and, for a cohort, ``patient`` (spellings below).

Unknown headers are refused, not ignored: a misspelt lab name silently dropped would change the
prediction without a word. Empty headers are allowed over empty columns only.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from django.utils.translation import gettext_lazy as _

from predictor.catalogue import FACTORS, FACTORS_BY_KEY
from predictor.inputs.units import Unit, accepted_units, default_unit, find_unit
from predictor.sheets.errors import Problem, SheetError, lazy_format
from predictor.sheets.sheet import column_letter

FACTOR = "factor"
DAY = "day"
CRS_GRADE = "crs_grade"
PATIENT = "patient"
EMPTY = "empty"

CONTEXT_HEADERS: dict[str, tuple[str, ...]] = {
    DAY: ("day", "days", "day since infusion", "days since infusion", "day after infusion",
          "days after infusion", "day post infusion", "天", "天数", "第几天", "输注后天数",
          "回输后天数", "输注后第几天", "回输后第几天"),
    CRS_GRADE: ("crs_grade", "crs grade", "grade", "crs", "astct grade", "crs grade today",
                "crs 分级", "crs等级", "crs级别", "crs分度", "分级", "今日crs分级"),
    PATIENT: ("patient", "patient id", "patient no", "patient number", "id", "subject",
              "subject id", "case", "case id", "患者", "患者id", "患者编号", "病人", "病人编号",
              "病例", "病例号", "编号"),
}
# What may stand in parentheses after a context header ("day (d)", "CRS grade (ASTCT)").
_CONTEXT_UNITS: dict[str, tuple[str, ...]] = {
    DAY: ("d", "day", "days", "天", "日"),
    CRS_GRADE: ("astct", "0-4", "0–4", "级", "grade"),
    PATIENT: ("id", "no", "no.", "编号"),
}
_SEPARATORS = re.compile(r"[\s_\-‐‑–—·]+")
_TRAILING_GROUP = re.compile(r"^(.*?)\s*[(\[]([^()\[\]]*)[)\]]\s*$")
_BRACKETS = str.maketrans("【】〔〕", "[][]")

_UNKNOWN = _("Unknown column. Use a factor key, the English or Chinese factor name (optionally "
             "with its unit in parentheses), or day, crs_grade, patient.")
_UNKNOWN_UNIT = _("“%(unit)s” is not a unit for %(factor)s; use one of: %(units)s.")
_NO_UNIT = _("This column takes no unit in parentheses.")
_DUPLICATE = _("This column repeats the column “%(other)s”: each value may have one column "
               "only.")


def normalise_header(text: str) -> str:
    """A header as compared: NFKC, case-folded, without spaces, ``_`` or dashes."""
    folded = unicodedata.normalize("NFKC", str(text)).translate(_BRACKETS).casefold()
    return _SEPARATORS.sub("", folded)


def _without_parenthesis(name: str) -> tuple[str, str | None]:
    match = _TRAILING_GROUP.match(unicodedata.normalize("NFKC", name).translate(_BRACKETS))
    return (match.group(1), match.group(2)) if match else (name, None)


@cache
def header_aliases() -> dict[str, tuple[str, str | None]]:
    """Normalised header -> (kind, factor key or None). Raises RuntimeError if one spelling
    could mean two columns (a catalogue edit that would make matching ambiguous)."""
    table: dict[str, tuple[str, str | None]] = {}

    def add(spelling: str, target: tuple[str, str | None]) -> None:
        alias = normalise_header(spelling)
        if not alias:
            return
        if table.get(alias, target) != target:
            raise RuntimeError(f"header spelling {spelling!r} is ambiguous")
        table[alias] = target

    for spec in FACTORS:
        target = (FACTOR, spec.key)
        for spelling in (spec.key, spec.name_en, spec.name_zh, spec.sheet_column):
            add(spelling, target)
            stem, inner = _without_parenthesis(spelling)
            add(stem, target)
            if inner and spelling in (spec.name_en, spec.name_zh):
                add(inner, target)  # the abbreviation: "PCT", "IL-6", "α-HBDH"
    for kind, spellings in CONTEXT_HEADERS.items():
        for spelling in spellings:
            add(spelling, (kind, None))
    return table


@dataclass(frozen=True)
class Column:
    """One matched column. ``unit`` is the factor's unit in this column; ``unit_written`` says
    whether the header named it (for a percentage factor, ``%`` written means the values are
    percentages; without it, fractions 0-1)."""

    index: int
    header: str
    kind: str
    key: str | None = None
    unit: Unit | None = None
    unit_written: bool = False

    @property
    def label(self) -> str:
        """How messages name the column: the header as written, or its letter."""
        return self.header or column_letter(self.index)


def _match_one(index: int, header: str, *, system: str) -> Column | Problem:
    if not header.strip():
        return Column(index, "", EMPTY)
    aliases = header_aliases()
    whole = aliases.get(normalise_header(header))
    if whole is not None:
        kind, key = whole
        unit = default_unit(key, system=system) if kind == FACTOR else None
        return Column(index, header, kind, key, unit)
    stem, unit_text = _without_parenthesis(header)
    target = aliases.get(normalise_header(stem)) if unit_text is not None else None
    if target is None:
        return Problem(_UNKNOWN, column=header)
    kind, key = target
    if kind != FACTOR:
        allowed = {normalise_header(u) for u in _CONTEXT_UNITS[kind]}
        if unit_text.strip() and normalise_header(unit_text) not in allowed:
            return Problem(_NO_UNIT, column=header)
        return Column(index, header, kind)
    if not unit_text.strip():
        return Column(index, header, kind, key, default_unit(key, system=system))
    unit = find_unit(key, unit_text)
    if unit is None:
        units = ", ".join(u.symbol for u in accepted_units(key))
        return Problem(lazy_format(_UNKNOWN_UNIT, unit=unit_text.strip(),
                                   factor=FACTORS_BY_KEY[key].name_en, units=units),
                       column=header)
    return Column(index, header, kind, key, unit, unit_written=True)


def match_headers(headers: tuple[str, ...] | list[str], *, system: str = "si") -> list[Column]:
    """Match every header (see the module docstring). ``system`` ("si" or "us") is the unit of
    factor columns whose header names none. Raises SheetError listing every unknown header,
    unknown unit and duplicate."""
    columns: list[Column] = []
    problems: list[Problem] = []
    seen: dict[tuple[str, str | None], Column] = {}
    for index, header in enumerate(headers):
        matched = _match_one(index, header, system=system)
        if isinstance(matched, Problem):
            problems.append(matched)
            continue
        if matched.kind != EMPTY:
            ident = (matched.kind, matched.key)
            if ident in seen:
                problems.append(Problem(lazy_format(_DUPLICATE, other=seen[ident].label),
                                        column=matched.label))
                continue
            seen[ident] = matched
        columns.append(matched)
    if problems:
        raise SheetError(problems)
    return columns
