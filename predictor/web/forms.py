"""The prediction form: one text field per factor, and the horizon choice.

The form only carries what was typed and where errors go. The rules (parsing, limits, the
at-least-five rule, the choice of combination) stay in ``predictor.inputs.validation`` and
``predictor.scoring.prediction``; the view hands their messages back to the fields here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from predictor.catalogue import CONTEXT_KEYS, DAY_RANGE, HORIZONS, PANELS
from predictor.inputs.unit_entry import (
    EnteredValues,
    annotate_flags,
    convert_entered,
    show_converted,
)
from predictor.inputs.units import SYSTEMS, keys_with_us_unit, us_unit
from predictor.inputs.intake import check_context, check_values
from predictor.inputs.repeated_fields import repeated_fields
from predictor.live_catalogue import LiveCatalogue, LiveFactor
from predictor.scoring.selection import imputable_count

ALL_HORIZONS = "all"
HORIZON_TITLES = {1: _("Tomorrow"), 2: _("The day after tomorrow"), 3: _("In three days")}
HORIZON_CHOICES = [(ALL_HORIZONS, _("All three days"))] + [
    (str(h), HORIZON_TITLES[h]) for h in HORIZONS]
# The unit switch (spec section 10): "us" takes every factor that has a US conventional unit in
# it; the others (and percentages) stay as they are.
UNIT_CHOICES = [("si", _("SI units")), ("us", _("US conventional units"))]
# Long enough for "１２３４５．６７%" and the like, short enough to refuse junk.
MAX_VALUE_LENGTH = 32
# ASTCT grades, with the criterion a physician checks, so the choice needs no look-up.
CRS_GRADE_CHOICES = [
    ("", _("not given")),
    ("0", _("0 – no CRS")),
    ("1", _("1 – fever")),
    ("2", _("2 – hypotension without vasopressor, or low-flow oxygen")),
    ("3", _("3 – one vasopressor, or high-flow oxygen")),
    ("4", _("4 – several vasopressors, or positive pressure")),
]


def show_number(value: float) -> str:
    """A number as a physician would write it: no trailing zeros, no exponent for lab values."""
    return f"{value:.6g}"


@dataclass(frozen=True)
class FieldRow:
    """One factor's input with what the template shows around it."""

    field: forms.BoundField
    factor: LiveFactor
    typical: str  # e.g. "135–145", in ``unit``
    flag: object | None  # typical-range warning for the entered value
    unit: str = ""  # the unit the value is taken in, under the chosen unit system
    # Both systems' unit and typical range, for the script that relabels on a switch; empty
    # when the factor has no US conventional unit.
    unit_si: str = ""
    unit_us: str = ""
    typical_si: str = ""
    typical_us: str = ""

    @property
    def filled(self) -> bool:
        return bool((self.field.value() or "").strip())


@dataclass(frozen=True)
class ContextRow:
    """One clinical-context input (grade or day) with its help line."""

    field: forms.BoundField
    help: object

    @property
    def key(self) -> str:
        return self.field.name


@dataclass(frozen=True)
class PanelGroup:
    number: int
    key: str
    name: str
    rows: tuple[FieldRow, ...]
    imputable: int  # how many missing values a model's training medians may fill in

    @property
    def filled_count(self) -> int:
        return sum(row.filled for row in self.rows)

    @property
    def has_errors(self) -> bool:
        return any(row.field.errors for row in self.rows)

    @property
    def is_complete(self) -> bool:
        return self.filled_count == len(self.rows)


class PredictionForm(forms.Form):
    horizon = forms.ChoiceField(label=_("Predict for"), choices=HORIZON_CHOICES,
                                initial=ALL_HORIZONS, widget=forms.RadioSelect)
    units = forms.ChoiceField(label=_("Units of the lab values"), choices=UNIT_CHOICES,
                              initial="si", required=False, widget=forms.RadioSelect)

    def __init__(self, catalogue: LiveCatalogue, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.catalogue = catalogue
        self.flags: dict[str, object] = {}
        for factor in catalogue.factors:
            self.fields[factor.key] = forms.CharField(
                label=str(factor.name), required=False, max_length=MAX_VALUE_LENGTH,
                widget=forms.TextInput(attrs={
                    "inputmode": "decimal", "autocomplete": "off", "spellcheck": "false",
                    "data-panel": str(factor.panel),
                    # The unit, the help line and any message below the field.
                    "aria-describedby": f"unit-{factor.key} about-{factor.key}"}))
        # The clinical context is passed on as typed: predict() parses it and says what is wrong
        # (a grade outside 0-4, one value without the other) under the field concerned.
        self.fields["crs_grade"] = forms.CharField(
            label=_("Today's CRS grade (ASTCT)"), required=False,
            widget=forms.Select(choices=CRS_GRADE_CHOICES,
                                attrs={"aria-describedby": "about-crs_grade context-about"}))
        self.fields["day"] = forms.CharField(
            label=_("Day since CAR-T infusion"), required=False, max_length=MAX_VALUE_LENGTH,
            widget=forms.TextInput(attrs={
                "inputmode": "numeric", "autocomplete": "off", "spellcheck": "false",
                "aria-describedby": "unit-day about-day context-about"}))

    def clean(self):
        # A field sent twice is refused where it would show, not read as its last copy.
        labels = {name: field.label for name, field in self.fields.items()}
        for name, messages in repeated_fields(self.data, names=labels).items():
            for message in messages:
                self.add_error(name, message)
        return super().clean()

    def context_values(self) -> dict[str, str] | None:
        """Today's CRS grade and the day since infusion as typed, for ``predict``; None when
        neither was given (one without the other goes on, so predict() can say what is missing)."""
        given = {key: self.cleaned_data[key].strip() for key in CONTEXT_KEYS
                 if (self.cleaned_data.get(key) or "").strip()}
        return given or None

    def context_rows(self) -> list[ContextRow]:
        """The clinical-context fields, for their own section above the panels."""
        return [ContextRow(self["crs_grade"], help=""),
                ContextRow(self["day"], help=_("Infusion day = 0; %(low)s–%(high)s.") % {
                    "low": DAY_RANGE[0], "high": DAY_RANGE[1]})]

    def raw_values(self) -> dict[str, str]:
        """The entered values (non-empty only), as typed, for ``predict``."""
        return {f.key: self.cleaned_data[f.key] for f in self.catalogue.factors
                if self.cleaned_data.get(f.key)}

    def unit_system(self) -> str:
        """"si" or "us": as submitted, else as carried over by the language switch."""
        source = self.data if self.is_bound else self.initial
        chosen = source.get("units")
        return chosen if chosen in SYSTEMS else "si"

    def us_units_text(self) -> str:
        """"Glucose (mg/dL), Creatinine (mg/dL), ...": what the US switch changes."""
        return ", ".join(f"{self.catalogue.by_key[key].name} ({us_unit(key).symbol})"
                         for key in keys_with_us_unit() if key in self.catalogue.by_key)

    def entered_values(self, values=None) -> EnteredValues:
        """The entered values (``raw_values()`` unless given) in the catalogue's units, for
        ``predict``, with what was converted (``predictor.inputs.unit_entry``)."""
        values = self.raw_values() if values is None else values
        return convert_entered(values, system=self.unit_system(), percent_input=True)

    def horizons(self) -> list[int]:
        choice = self.cleaned_data["horizon"]
        return list(HORIZONS) if choice == ALL_HORIZONS else [int(choice)]

    def add_prediction_errors(self, errors: dict[str, list]) -> None:
        """Put ``InvalidInput.errors`` on the fields they name ("__all__" goes on top), except
        the context's "both or neither", which goes next to the one left empty."""
        both_or_neither = {str(m) for m in
                           check_context(self.context_values()).errors.get("__all__", [])}
        empty = [key for key in CONTEXT_KEYS if not (self.cleaned_data.get(key) or "").strip()]
        for key, messages in errors.items():
            for message in messages:
                if key == "__all__" and empty and str(message) in both_or_neither:
                    for name in empty:
                        self.add_error(name, message)
                else:
                    self.add_error(key if key in self.fields else None, message)

    def note_typical_range_flags(self, values) -> None:
        """Typical-range warnings for the valid entered values, even when others are invalid."""
        typed = {key: values[key] for key in self.catalogue.by_key if values.get(key)}
        entered = self.entered_values(typed)
        checked = check_values(entered.values, limits=self.catalogue.limits, percent_input=True,
                               min_values=0)
        flags = annotate_flags(checked.flags, entered.conversions)
        self.flags = {key: flag for key, flag in flags.items() if key not in self.errors}

    def panels(self) -> list[PanelGroup]:
        groups = []
        for panel in PANELS:
            rows = tuple(self._field_row(f) for f in self.catalogue.panel_factors(panel.number))
            name = self.catalogue.panel_names.get(panel.number)
            groups.append(PanelGroup(
                panel.number, panel.key, str(name) if name else "", rows,
                imputable_count(panel.number, settings.PRCRS_MAX_IMPUTED_FRACTION)))
        return groups

    def _field_row(self, factor: LiveFactor) -> FieldRow:
        us = us_unit(factor.key)
        if us is None:
            return FieldRow(self[factor.key], factor, _typical_range(factor),
                            self.flags.get(factor.key), unit=str(factor.unit))
        si_range, us_range = _typical_range(factor), _typical_range(factor, us)
        in_us = self.unit_system() == "us"
        return FieldRow(self[factor.key], factor, us_range if in_us else si_range,
                        self.flags.get(factor.key), unit=us.symbol if in_us else str(factor.unit),
                        unit_si=str(factor.unit), unit_us=us.symbol,
                        typical_si=si_range, typical_us=us_range)

    def field_errors(self) -> list[tuple[forms.BoundField, list]]:
        """Per-field errors in page order, for the summary at the top."""
        names = ["units", *CONTEXT_KEYS, *(f.key for f in self.catalogue.factors), "horizon"]
        return [(self[name], self.errors[name]) for name in names if name in self.errors]


def _typical_range(factor: LiveFactor, unit=None) -> str:
    """The typical range as shown next to the field: in percent for a percentage, in ``unit``
    (a US unit, rounded as converted values are shown) when given."""
    if unit is not None:
        low, high = (unit.from_si(v) for v in (factor.limits.typical_min,
                                                factor.limits.typical_max))
        return f"{show_converted(low)}–{show_converted(high)}"
    scale = 100 if factor.is_fraction else 1
    low, high = factor.limits.typical_min * scale, factor.limits.typical_max * scale
    return f"{show_number(low)}–{show_number(high)}"
