"""What a printed result needs beyond the screen (issue 16 item 6): every entered value with its
unit, in catalogue order. The date, the model versions, the interval and the safety wording are
already on the page; the optional label (bed, initials) never reaches the server: it is typed
into a field outside the form, copied into the printout by static/js/print_label.js."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from predictor.inputs.intake import NotANumber, parse_number
from predictor.live_catalogue import LiveCatalogue
from predictor.web.forms import show_number


@dataclass(frozen=True)
class PrintedValue:
    name: str
    value: str  # with its unit, as the model took it (catalogue units; percentages as %)


def printed_inputs(values: Mapping[str, object], catalogue: LiveCatalogue, *,
                   percent_input: bool = True) -> list[PrintedValue]:
    """The entered lab values (after any unit conversion) with their units; blanks and values
    that are not numbers (refused with an error anyway) are left out."""
    out = []
    for factor in catalogue.factors:
        try:
            parsed = parse_number(values.get(factor.key))
        except NotANumber:
            continue
        if parsed is None:
            continue
        number, had_percent = parsed
        if factor.is_fraction:
            percent = number if (had_percent or percent_input) else number * 100
            out.append(PrintedValue(str(factor.name), f"{show_number(percent)} %"))
        else:
            out.append(PrintedValue(str(factor.name), f"{show_number(number)} {factor.unit}"))
    return out
