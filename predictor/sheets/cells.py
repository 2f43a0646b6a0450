"""One cell to one value: a lab value in the catalogue's unit, a day, a CRS grade, a patient id.

Text cells go through the same single-value parser as the form and the API
(``predictor.inputs.validation``), so ``12,5``, full-width digits and a trailing ``%`` mean the same
everywhere; unit conversion happens before the plausibility limits are applied, which are the
catalogue's (in SI).
"""

from __future__ import annotations

import datetime as dt

from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from predictor.catalogue import CRS_GRADE_RANGE, DAY_RANGE, FACTORS_BY_KEY
from predictor.inputs.context import whole_number
from predictor.inputs.validation import (FactorLimits, NotANumber, check_value,
                                         not_a_percentage, parse_number)
from predictor.sheets.errors import lazy_format
from predictor.sheets.headers import Column
from predictor.sheets.sheet import Percent, is_blank

_NOT_A_NUMBER = _("“%(text)s” is not a number; enter a number such as 12.5 or leave the cell "
                  "empty.")
_DATE = _("This cell holds a date or time, not a number.")
_DAY = _("The day must be a whole number of days since the CAR-T infusion, from %(low)s to "
         "%(high)s (infusion day = 0).")
_GRADE = _("The CRS grade must be a whole number from %(low)s to %(high)s (ASTCT).")
_NO_PATIENT = _("The patient is missing: every row of a cohort sheet needs one.")


def _validation_message(key: str, raw, limits: FactorLimits, percent_input: bool) -> str:
    return str(check_value(key, raw, limits, percent_input=percent_input)[1])


def _validation_flag(key: str, raw, limits: FactorLimits, percent_input: bool) -> str:
    return str(check_value(key, raw, limits, percent_input=percent_input)[2])


# predictor.inputs.validation words its messages in the language active when it runs; a sheet's
# problems are shown later (another request, another language), so the check is re-run then.
_deferred = lazy(_validation_message, str)
_deferred_flag = lazy(_validation_flag, str)


def _checked(key: str, raw, limits: FactorLimits, *, percent_input: bool):
    value, error, flag = check_value(key, raw, limits, percent_input=percent_input)
    if error is not None:
        error = _deferred(key, raw, limits, percent_input)
    if flag is not None:
        flag = _deferred_flag(key, raw, limits, percent_input)
    return value, error, flag


def _show(value) -> str:
    text = str(value).strip()
    return text if len(text) <= 40 else text[:37] + "..."


def _number(value) -> tuple[float, bool]:
    """(number, had a percent sign); raises NotANumber, TypeError for a date."""
    if isinstance(value, (dt.date, dt.time, dt.timedelta)):
        raise TypeError(value)
    parsed = parse_number(value)
    if parsed is None:
        raise NotANumber(value)
    return parsed


def read_factor_cell(value, column: Column, *, limits: FactorLimits):
    """(value in catalogue units or None, error or None, typical-range flag or None).
    Blank -> (None, None, None). A percentage factor takes fractions 0-1, or percentages when
    the column header says ``%`` or the cell has a ``%`` sign or a percentage format."""
    if is_blank(value):
        return None, None, None
    spec = FACTORS_BY_KEY[column.key]
    if isinstance(value, Percent):
        if not spec.is_fraction:
            return None, not_a_percentage(column.key), None
        return _checked(column.key, value.fraction, limits, percent_input=False)
    try:
        number, had_percent = _number(value)
    except TypeError:
        return None, _DATE, None
    except NotANumber as exc:
        if type(exc) is not NotANumber:  # a refined refusal (e.g. "1,234": two readings)
            return None, _deferred(column.key, value, limits, False), None
        return None, lazy_format(_NOT_A_NUMBER, text=_show(value)), None
    if spec.is_fraction:
        as_percent = had_percent or column.unit_written
        return _checked(column.key, number, limits, percent_input=as_percent)
    if had_percent:
        return None, not_a_percentage(column.key), None
    return _checked(column.key, column.unit.to_si(number), limits, percent_input=False)


def _whole_number(value, low: int, high: int) -> int | None:
    # A percentage, a date or a time is never a day or a grade, whatever number it holds.
    if isinstance(value, (Percent, dt.date, dt.time, dt.timedelta)):
        return None
    return whole_number(value, low, high)


def read_day(value):
    """(day or None, error or None); a blank cell is an error (a course needs its days)."""
    day = _whole_number(value, *DAY_RANGE) if not is_blank(value) else None
    if day is None:
        return None, lazy_format(_DAY, low=DAY_RANGE[0], high=DAY_RANGE[1])
    return day, None


def read_grade(value):
    """(grade or None, error or None); blank is no grade, not an error."""
    if is_blank(value):
        return None, None
    grade = _whole_number(value, *CRS_GRADE_RANGE)
    if grade is None:
        return None, lazy_format(_GRADE, low=CRS_GRADE_RANGE[0], high=CRS_GRADE_RANGE[1])
    return grade, None


def read_patient(value):
    """(patient id or None, error or None): text as written; 12.0 from Excel reads as 12."""
    if is_blank(value):
        return None, _NO_PATIENT
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, Percent):
        value = value.fraction
    return str(value).strip(), None
