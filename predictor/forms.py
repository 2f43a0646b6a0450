"""The prediction form: one text field per factor, and the horizon choice.

The form only carries what was typed and where errors go. The rules (parsing, limits, the
at-least-five rule, the choice of combination) stay in ``predictor.validation`` and
``predictor.prediction``; the view hands their messages back to the fields here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from predictor.catalogue import HORIZONS, PANELS
from predictor.live_catalogue import LiveCatalogue, LiveFactor
from predictor.selection import imputable_count
from predictor.validation import check_values

ALL_HORIZONS = "all"
HORIZON_TITLES = {1: _("Tomorrow"), 2: _("The day after tomorrow"), 3: _("In three days")}
HORIZON_CHOICES = [(ALL_HORIZONS, _("All three days"))] + [
    (str(h), HORIZON_TITLES[h]) for h in HORIZONS]
# Long enough for "１２３４５．６７%" and the like, short enough to refuse junk.
MAX_VALUE_LENGTH = 32


def show_number(value: float) -> str:
    """A number as a physician would write it: no trailing zeros, no exponent for lab values."""
    return f"{value:.6g}"


@dataclass(frozen=True)
class FieldRow:
    """One factor's input with what the template shows around it."""

    field: forms.BoundField
    factor: LiveFactor
    typical: str  # e.g. "135–145"
    flag: object | None  # typical-range warning for the entered value

    @property
    def filled(self) -> bool:
        return bool((self.field.value() or "").strip())


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

    def raw_values(self) -> dict[str, str]:
        """The entered values (non-empty only), as typed, for ``predict``."""
        return {f.key: self.cleaned_data[f.key] for f in self.catalogue.factors
                if self.cleaned_data.get(f.key)}

    def horizons(self) -> list[int]:
        choice = self.cleaned_data["horizon"]
        return list(HORIZONS) if choice == ALL_HORIZONS else [int(choice)]

    def add_prediction_errors(self, errors: dict[str, list]) -> None:
        """Put ``InvalidInput.errors`` on the fields they name ("__all__" goes on top)."""
        for key, messages in errors.items():
            field = key if key in self.fields else None
            for message in messages:
                self.add_error(field, message)

    def note_typical_range_flags(self, values) -> None:
        """Typical-range warnings for the valid entered values, even when others are invalid."""
        typed = {key: values[key] for key in self.catalogue.by_key if values.get(key)}
        checked = check_values(typed, limits=self.catalogue.limits, percent_input=True,
                               min_values=0)
        self.flags = {key: flag for key, flag in checked.flags.items() if key not in self.errors}

    def panels(self) -> list[PanelGroup]:
        groups = []
        for panel in PANELS:
            rows = tuple(FieldRow(self[f.key], f, _typical_range(f), self.flags.get(f.key))
                         for f in self.catalogue.panel_factors(panel.number))
            name = self.catalogue.panel_names.get(panel.number)
            groups.append(PanelGroup(
                panel.number, panel.key, str(name) if name else "", rows,
                imputable_count(panel.number, settings.PRCRS_MAX_IMPUTED_FRACTION)))
        return groups

    def field_errors(self) -> list[tuple[forms.BoundField, list]]:
        """Per-field errors in page order, for the summary at the top."""
        names = [f.key for f in self.catalogue.factors] + ["horizon"]
        return [(self[name], self.errors[name]) for name in names if name in self.errors]


def _typical_range(factor: LiveFactor) -> str:
    scale = 100 if factor.is_fraction else 1
    low, high = factor.limits.typical_min * scale, factor.limits.typical_max * scale
    return f"{show_number(low)}–{show_number(high)}"
