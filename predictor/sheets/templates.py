"""Downloadable course templates in each language: the headers the reader matches, with units.

The headers are factor names with their catalogue units in parentheses (percentages as ``%``),
preceded by the day and CRS grade columns; two example rows use mid-typical values. The .xlsx
adds a notes sheet after the course sheet (the reader reads the first sheet only).
"""

from __future__ import annotations

import io

from django.utils.translation import gettext_lazy as _
from django.utils.translation import override
from openpyxl import Workbook
from openpyxl.styles import Font

from predictor.catalogue import FACTORS, FACTORS_BY_KEY, FactorSpec
from predictor.inputs.units import keys_with_us_unit, us_unit
from predictor.sheets.export import results_to_csv

# Spellings fixed here rather than translated: the reader must always match them.
_CONTEXT_HEADERS = {"en": ("day", "CRS grade"), "zh": ("天数", "CRS 分级")}


def _lang(language: str) -> str:
    return "zh" if (language or "").lower().startswith("zh") else "en"


def _name(spec: FactorSpec, lang: str) -> str:
    return spec.name_zh if lang == "zh" else spec.name_en


def _header(spec: FactorSpec, lang: str) -> str:
    return f"{_name(spec, lang)} ({spec.unit})"


def _example(spec: FactorSpec, day: int) -> float:
    low, high = spec.typical
    value = low + (high - low) * (0.4 + 0.2 * day)
    if spec.is_fraction:
        value *= 100  # the header says %, so the example is a percentage
    return float(f"{value:.3g}")


def template_headers(language: str) -> list[str]:
    """The template's header row in ``language`` ("en" or "zh-hans")."""
    lang = _lang(language)
    return [*_CONTEXT_HEADERS[lang], *(_header(spec, lang) for spec in FACTORS)]


def template_rows(language: str) -> list[dict]:
    """The example rows (day 0 and 1) as dicts keyed by the template headers."""
    headers = template_headers(language)
    rows = []
    for day, grade in ((0, 0), (1, 1)):
        values = [day, grade, *(_example(spec, day) for spec in FACTORS)]
        rows.append(dict(zip(headers, values)))
    return rows


def _notes(lang: str) -> list[str]:
    us = ", ".join(f"{_name(FACTORS_BY_KEY[key], lang)} {us_unit(key).symbol}"
                   for key in keys_with_us_unit())
    return [
        str(_("How to fill in this sheet")),
        str(_("One row per day. “day” is the number of days since the CAR-T infusion "
              "(infusion day = 0), increasing down the sheet.")),
        str(_("“CRS grade” is optional: today's CRS grade (ASTCT, 0-4).")),
        str(_("Leave a cell empty when the value was not measured; delete the example rows.")),
        str(_("Percentages are written as percentages (45 means 45 %) when the header says (%).")),
        str(_("US units may be used by changing the unit in the header, e.g. “Glucose "
              "(mg/dL)”: %(units)s.") % {"units": us}),
        str(_("For a cohort, add a column “patient” with an identifier per patient (not a "
              "name).")),
        str(_("Only the first sheet is read; formulas are not evaluated, their saved values "
              "are used.")),
        str(_("For research use only; not a substitute for clinical judgement.")),
    ]


def template_xlsx(language: str) -> bytes:
    """The course template as an .xlsx file (bytes) in ``language``."""
    with override(language):
        workbook = Workbook()
        sheet = workbook.active
        sheet.title = str(_("Course"))[:31]
        headers = template_headers(language)
        sheet.append(headers)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in template_rows(language):
            sheet.append([row[h] for h in headers])
        sheet.freeze_panes = "C2"
        notes = workbook.create_sheet(str(_("Notes"))[:31])
        for line in _notes(_lang(language)):
            notes.append([line])
        notes["A1"].font = Font(bold=True)
        notes.column_dimensions["A"].width = 100
        out = io.BytesIO()
        workbook.save(out)
    return out.getvalue()


def template_csv(language: str) -> bytes:
    """The course template as UTF-8 CSV with a BOM, in ``language``."""
    headers = template_headers(language)
    return results_to_csv(template_rows(language), language=language, columns=headers)
