"""FHIR Observations (and the infusion Procedure) read into the site's inputs: lab values in the
catalogue's units, today's CRS grade and the day since infusion.

Rules (docs/integration.md):
- an Observation is recognised by a coding the catalogue lists (``predictor.interop.codes``);
  any other Observation, and any other resource, is ignored and named in the answer;
- a value's unit is its Quantity's UCUM code (or, without one, its ``unit`` text); a unit the code
  does not list is refused. Values are turned into the catalogue's units by
  ``predictor.inputs.units`` (the form's and the JSON API's fixed factors);
- the window: values are taken from the 24 hours up to the newest recognised result; per factor
  the most recent one; two different values of one factor at that same time are refused;
- a value written with a comparator (``< 2 pg/mL``) or marked entered-in-error/cancelled is left
  out and named: it is no number the model can take, and guessing one would be invented data.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.utils import translation
from django.utils.translation import gettext_lazy as _

from predictor.catalogue import FACTORS_BY_KEY
from predictor.fhir.outcome import FhirRefusal, Issue, say
from predictor.inputs.unit_entry import Conversion
from predictor.inputs.units import find_unit, si_unit
from predictor.interop.codes import INFUSION_CODE, SITE, CodeMatch, find_code, find_unit_map

WINDOW = dt.timedelta(hours=24)
_SKIPPED_STATUSES = {"entered-in-error", "cancelled"}


@dataclass(frozen=True)
class Located:
    """A resource of the request and where it is: its reference (``Observation/abc`` or the
    entry's fullUrl) and its FHIRPath in the request (``Bundle.entry[3].resource``)."""

    resource: object
    path: str
    reference: str | None

    @property
    def name(self) -> str:
        return self.reference or self.path


@dataclass(frozen=True)
class Reading:
    """One recognised value: the catalogue key, the value as the model takes it (catalogue
    units, fractions 0-1; context values as given), when, and where it came from."""

    key: str
    value: float
    at: dt.datetime
    source: Located
    is_context: bool
    conversion: Conversion | None = None
    note: str = ""


@dataclass
class Inputs:
    """One patient-day for ``predict``: ``values`` (catalogue units), ``context`` (both or
    neither or what was given, for predict's own check), the readings used, and what was left."""

    values: dict[str, float] = field(default_factory=dict)
    context: dict[str, object] = field(default_factory=dict)
    used: dict[str, Reading] = field(default_factory=dict)
    newest: dt.datetime | None = None
    subject: str | None = None
    ignored: list[str] = field(default_factory=list)  # resources not understood
    left_out: list[str] = field(default_factory=list)  # recognised, but not usable or too old

    @property
    def conversions(self) -> dict[str, Conversion]:
        return {k: r.conversion for k, r in self.used.items() if r.conversion is not None}

    def source_of(self, key: str) -> Located | None:
        reading = self.used.get(key)
        return reading.source if reading else None


def locate_entries(bundle) -> list[Located]:
    """Every resource of a Bundle, with its place and reference."""
    located = []
    for i, entry in enumerate(bundle.entry or []):
        resource = entry.resource
        if resource is None:
            continue
        ref = entry.fullUrl or (f"{resource.get_resource_type()}/{resource.id}"
                                if getattr(resource, "id", None) else None)
        located.append(Located(resource, f"Bundle.entry[{i}].resource", ref))
    return located


def moment(value) -> dt.datetime | None:
    """A FHIR dateTime as an aware datetime (a date alone: its midnight, UTC)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
    return None


def effective_time(observation) -> dt.datetime | None:
    period = getattr(observation, "effectivePeriod", None)
    return (moment(getattr(observation, "effectiveDateTime", None))
            or moment(getattr(observation, "effectiveInstant", None))
            or (moment(period.end or period.start) if period is not None else None))


def _matches(observation) -> list[CodeMatch]:
    codings = observation.code.coding or [] if observation.code else []
    found = [find_code(c.system, c.code) for c in codings]
    return [m for m in found if m is not None]


def _subject(resource) -> str | None:
    subject = getattr(resource, "subject", None)
    return subject.reference if subject is not None and subject.reference else None


def _value_error(item: Located, message) -> FhirRefusal:
    return FhirRefusal.one(422, "value", message, f"{item.path}.value[x]")


def _reading(item: Located, match: CodeMatch, at: dt.datetime) -> Reading | str:
    """The Reading of a recognised Observation, or a note (str) saying why it is left out.
    Raises FhirRefusal for a unit the code does not list or a value that is no number."""
    obs = item.resource
    quantity = getattr(obs, "valueQuantity", None)
    if match.is_context:
        raw = getattr(obs, "valueInteger", None)
        if raw is None and quantity is not None:
            if quantity.comparator:
                return str(say(_("%(resource)s: a value with “%(comparator)s” cannot be "
                                     "used."), resource=item.name, comparator=quantity.comparator))
            if (quantity.code or quantity.unit) and find_unit_map(
                    match.code, quantity.code, quantity.unit) is None:
                raise _unit_error(item, match, quantity)
            raw = float(quantity.value) if quantity.value is not None else None
        if raw is None:
            raise _value_error(item, say(_("%(resource)s holds no value (valueInteger or "
                                               "valueQuantity)."), resource=item.name))
        return Reading(match.key, raw, at, item, True)
    if quantity is None or quantity.value is None:
        if getattr(obs, "dataAbsentReason", None) is not None:
            return str(say(_("%(resource)s: no value (data absent)."), resource=item.name))
        raise _value_error(item, say(_("%(resource)s holds no valueQuantity with a number."),
                                         resource=item.name))
    if quantity.comparator:
        return str(say(_("%(resource)s: “%(comparator)s %(value)s” is not a number the "
                             "model can take; left out."), resource=item.name,
                           comparator=quantity.comparator, value=quantity.value))
    unit_map = find_unit_map(match.code, quantity.code, quantity.unit)
    if unit_map is None:
        raise _unit_error(item, match, quantity)
    entered = float(quantity.value)
    if not math.isfinite(entered):
        raise _value_error(item, say(_("%(resource)s: the value is not a finite number."),
                                         resource=item.name))
    unit = find_unit(match.key, unit_map.site_unit)
    assert unit is not None, (match.key, unit_map)  # codes.py is checked against units.py
    value = unit.to_si(entered * unit_map.scale)
    if unit.percent:
        value = value / 100.0  # the model takes fractions 0-1
    conversion = None
    target = si_unit(match.key)
    if unit_map.scale != 1.0 or (unit != target and not unit.percent):
        conversion = Conversion(match.key, entered, unit_map.ucum, value, target.symbol)
    return Reading(match.key, value, at, item, False, conversion, unit_map.note)


def _unit_error(item: Located, match: CodeMatch, quantity) -> FhirRefusal:
    written = quantity.code or quantity.unit or ""
    accepted = ", ".join(u.ucum for u in match.code.units)
    return FhirRefusal.one(422, "value", say(
        _("%(resource)s: the unit “%(unit)s” cannot be converted for %(code)s (%(factor)s); "
          "accepted UCUM units: %(units)s."), resource=item.name, unit=written,
        code=match.code.code, factor=_factor_label(match.key), units=accepted),
        f"{item.path}.valueQuantity.code")


def _factor_label(key: str) -> str:
    spec = FACTORS_BY_KEY.get(key)
    if spec is None:
        return key
    return spec.name_zh if (translation.get_language() or "").startswith("zh") else spec.name_en


def _is_infusion(resource) -> bool:
    if resource.get_resource_type() != "Procedure" or resource.code is None:
        return False
    return any(c.system == SITE and c.code == INFUSION_CODE for c in resource.code.coding or [])


@dataclass
class Readings:
    """Everything recognised in a set of resources, before the window is applied."""

    readings: list[Reading] = field(default_factory=list)
    infusion: tuple[dt.datetime, Located] | None = None
    subject: str | None = None
    ignored: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


def read_resources(items: Sequence[Located]) -> Readings:
    """Recognise every Observation and the infusion Procedure; FhirRefusal for a recognised
    one that cannot be used as it is (no time, a unit that does not convert, no number) or
    for resources of different patients."""
    found = Readings()
    subjects: dict[str, Located] = {}
    for item in items:
        resource = item.resource
        kind = resource.get_resource_type()
        if _is_infusion(resource):
            performed = getattr(resource, "performedDateTime", None)
            if performed is None:
                raise FhirRefusal.one(422, "required", say(
                    _("%(resource)s: the CAR-T infusion needs its performedDateTime."),
                    resource=item.name), f"{item.path}.performedDateTime")
            if found.infusion is not None and found.infusion[0] != moment(performed):
                raise FhirRefusal.one(422, "conflict", say(
                    _("%(resource)s and %(other)s give two different infusion dates."),
                    resource=item.name, other=found.infusion[1].name), f"{item.path}")
            found.infusion = (moment(performed), item)
            _note_subject(subjects, item)
            continue
        if kind != "Observation":
            found.ignored.append(f"{item.name} ({kind})")
            continue
        matches = _matches(resource)
        if not matches:
            codes = ", ".join(f"{c.system}|{c.code}" for c in (resource.code.coding or [])
                              ) if resource.code else ""
            found.ignored.append(f"{item.name} ({codes or 'no code'})")
            continue
        if resource.status in _SKIPPED_STATUSES:
            found.left_out.append(str(say(_("%(resource)s: status %(status)s."),
                                              resource=item.name, status=resource.status)))
            continue
        at = effective_time(resource)
        if at is None:
            raise FhirRefusal.one(422, "required", say(
                _("%(resource)s has no effectiveDateTime: the time of the result is needed to "
                  "pick the most recent value."), resource=item.name),
                f"{item.path}.effective[x]")
        reading = _reading(item, matches[0], at)
        if isinstance(reading, str):
            found.left_out.append(reading)
        else:
            found.readings.append(reading)
        _note_subject(subjects, item)
    if len(subjects) > 1:
        names = ", ".join(sorted(subjects))
        first = next(iter(subjects.values()))
        raise FhirRefusal.one(422, "invalid", say(
            _("The resources are about more than one patient (%(subjects)s); send one patient "
              "at a time."), subjects=names), f"{first.path}.subject")
    found.subject = next(iter(subjects), None)
    return found


def _note_subject(subjects: dict[str, Located], item: Located) -> None:
    subject = _subject(item.resource)
    if subject:
        subjects.setdefault(subject, item)


def latest_per_key(readings: Iterable[Reading]) -> dict[str, Reading]:
    """Per key, the most recent reading; FhirRefusal when two differ at that same time."""
    best: dict[str, Reading] = {}
    for reading in readings:
        held = best.get(reading.key)
        if held is None or reading.at > held.at:
            best[reading.key] = reading
        elif reading.at == held.at and not _same(reading.value, held.value):
            raise FhirRefusal.one(422, "conflict", say(
                _("%(resource)s and %(other)s give two different values for %(factor)s at the "
                  "same time (%(at)s)."), resource=reading.source.name, other=held.source.name,
                factor=_factor_label(reading.key), at=reading.at.isoformat()),
                f"{reading.source.path}.value[x]", f"{held.source.path}.value[x]")
    return best


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def day_from_infusion(infusion: dt.datetime, at: dt.datetime) -> int:
    """Calendar days from the infusion to ``at``, each date as the EHR wrote it (infusion = 0)."""
    return (at.date() - infusion.date()).days


def inputs_for_window(found: Readings, newest: dt.datetime | None = None) -> Inputs:
    """The patient-day of the 24 hours up to ``newest`` (default: the newest reading)."""
    inputs = Inputs(subject=found.subject, ignored=list(found.ignored),
                    left_out=list(found.left_out))
    if newest is None and found.readings:
        newest = max(r.at for r in found.readings)
    inputs.newest = newest
    if newest is None:
        return inputs
    window = [r for r in found.readings if newest - WINDOW <= r.at <= newest]
    for r in found.readings:
        if r.at < newest - WINDOW:
            inputs.left_out.append(str(say(
                _("%(resource)s: older than 24 hours before the newest result."),
                resource=r.source.name)))
    latest = latest_per_key(window)
    for key, reading in latest.items():
        inputs.used[key] = reading
        if reading.is_context:
            inputs.context[key] = reading.value
        else:
            inputs.values[key] = reading.value
    if "day" not in inputs.context and found.infusion is not None:
        inputs.context["day"] = day_from_infusion(found.infusion[0], newest)
    return inputs


def context_source(inputs: Inputs, found: Readings, key: str) -> Located | None:
    """Where a context value came from (the day may come from the infusion Procedure)."""
    source = inputs.source_of(key)
    if source is None and key == "day" and found.infusion is not None:
        return found.infusion[1]
    return source


def problems_to_issues(errors: dict, inputs: Inputs, found: Readings) -> list[Issue]:
    """predict()'s errors by key as issues naming the Observation (or Procedure) they are about."""
    issues = []
    for key, messages in errors.items():
        source = context_source(inputs, found, key) if key in ("crs_grade", "day") \
            else inputs.source_of(key)
        where = (f"{source.path}.value[x]",) if source is not None else ("Bundle",)
        prefix = f"{source.name}: " if source is not None else ""
        for message in messages:
            issues.append(Issue("value", say(_("%(where)s%(message)s"), where=prefix,
                                                 message=message), where))
    return issues
