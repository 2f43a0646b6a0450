"""Reading calibration baselines: the spec's CSV or the original PrCRS three-column workbook.

A parsed baseline is a list of rows ``(probability, severe)``, or ``(probability, severe,
patient)`` where the CSV has a ``patient`` column (spec section 5: it says which rows belong to one
patient, so the interval can resample patients). ``baseline_columns`` splits either form.
"""

from __future__ import annotations

import csv
import io
import math

from django.utils.translation import gettext_lazy as _

MIN_BASELINE_ROWS = 20


class BaselineError(ValueError):
    """A baseline that cannot serve; the message says why, in the active language."""


def parse_baseline_csv(text: str) -> list[tuple]:
    """CSV with header ``probability,severe`` (optionally ``grade`` and ``patient``) ->
    [(probability, severe)] or, with a ``patient`` column, [(probability, severe, patient)]."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in next(reader, [])]
    if "probability" not in header or "severe" not in header:
        raise BaselineError(_("The baseline CSV needs a header row with the columns "
                              "'probability' and 'severe'."))
    repeated = [name for name in ("probability", "severe", "patient") if header.count(name) > 1]
    if repeated:  # which of the two columns is meant cannot be told
        raise BaselineError(_("The baseline CSV has two columns named '%(name)s'; keep one.")
                            % {"name": repeated[0]})
    p_col, y_col = header.index("probability"), header.index("severe")
    patient_col = header.index("patient") if "patient" in header else None
    rows, patients = [], []
    for line_no, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            rows.append((row[p_col], row[y_col]))
            if patient_col is not None:
                patients.append(row[patient_col].strip())
        except IndexError:
            raise BaselineError(_("Baseline line %(line)d has too few columns.")
                                % {"line": line_no}) from None
        if patient_col is not None and not patients[-1]:
            raise BaselineError(_("Baseline line %(line)d has no patient, but the baseline has "
                                  "a patient column: every row needs one.") % {"line": line_no})
    checked = _checked(rows, first_line=2)
    if patient_col is None:
        return checked
    return [(p, y, patient) for (p, y), patient in zip(checked, patients)]


def baseline_columns(rows) -> tuple[list[float], list[int], list[str] | None]:
    """(scores, severe, patients or None) of a parsed or stored baseline."""
    scores = [float(row[0]) for row in rows]
    severe = [int(row[1]) for row in rows]
    has_patients = bool(rows) and all(len(row) > 2 for row in rows)
    return scores, severe, [str(row[2]) for row in rows] if has_patients else None


def parse_baseline_workbook(data: bytes) -> list[tuple[float, int]]:
    """The original PrCRS workbook: no header; columns probability, predicted label, true label."""
    from openpyxl import load_workbook

    try:
        sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
    except Exception:  # openpyxl raises many types for a file that is not a workbook
        raise BaselineError(_("The baseline file is neither a CSV nor an Excel workbook.")) from None
    rows = [(r[0], r[2]) for r in sheet.iter_rows(values_only=True)
            if r and len(r) >= 3 and not all(c is None for c in r[:3])]
    return _checked(rows, first_line=1)


def parse_baseline_file(name: str, data: bytes) -> list[tuple[float, int]]:
    """Dispatch on content: a zip (xlsx) is a workbook, anything else must be CSV text."""
    if data[:2] == b"PK":
        return parse_baseline_workbook(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BaselineError(_("The baseline file is neither a CSV nor an Excel workbook.")) from None
    return parse_baseline_csv(text)


def _checked(rows, first_line: int) -> list[tuple[float, int]]:
    parsed = []
    for offset, (p_raw, y_raw) in enumerate(rows):
        line = first_line + offset
        try:
            p, y = float(p_raw), float(y_raw)
        except (TypeError, ValueError):
            raise BaselineError(_("Baseline line %(line)d holds text where a number belongs.")
                                % {"line": line}) from None
        if not (math.isfinite(p) and 0.0 <= p <= 1.0):
            raise BaselineError(_("Baseline line %(line)d: probability %(value)s is not "
                                  "between 0 and 1.") % {"line": line, "value": p_raw})
        if y not in (0.0, 1.0):
            raise BaselineError(_("Baseline line %(line)d: the label must be 0 or 1, not "
                                  "%(value)s.") % {"line": line, "value": y_raw})
        parsed.append((p, int(y)))
    if len(parsed) < MIN_BASELINE_ROWS:
        raise BaselineError(_("The baseline has %(count)d rows; at least %(minimum)d are needed.")
                            % {"count": len(parsed), "minimum": MIN_BASELINE_ROWS})
    if len({y for _, y in parsed}) < 2:
        raise BaselineError(_("The baseline must contain both severe (1) and non-severe (0) "
                              "patient-days."))
    return parsed
