"""Charts drawn on the server as SVG strings: a patient's risk over the days, one lab value over
the days, and the calibration of a cohort validation (spec section 9).

Like the model card's calibration chart, the charts need no script and no inline style (the
Content-Security-Policy forbids both): they carry classes, styled by ``static/css/charts.css``,
and plain presentation attributes (``stroke``, ``fill``) so they still read when shown without
that stylesheet. Each chart is an accessible image: ``role="img"``, a ``<title>`` and a
``<desc>`` referenced by ``aria-labelledby``/``aria-describedby``; the page should still show
the numbers in a table.

Every text (title, description, axis and legend labels) is passed in by the caller, already
translated, and is XML-escaped here; the only language-neutral formatting done here is of
numbers (``25%``, ``0.5``, ``1000``). Each function returns a ``SafeString`` so a template can
include it as is.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Sequence
from xml.sax.saxutils import escape

from django.utils.safestring import SafeString, mark_safe

from predictor.scoring.shown_percent import shown_percent

# Colours of up to three horizons (and more, cycling), told apart by marker shape as well, so
# colour is never the only cue. The stylesheet may override them by class (series-0, ...).
SERIES_COLOURS = ("#0f5f86", "#b45309", "#6b3fa0")
MARKERS = ("circle", "square", "diamond")
TEXT_COLOUR, MUTED_COLOUR, GRID_COLOUR, AXIS_COLOUR = "#1d2733", "#5b6776", "#e3e8ee", "#aab4c0"
RANGE_COLOUR = "#e6f1f6"


@dataclass(frozen=True)
class Frame:
    """A chart's size and its plot area, in SVG user units."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int

    @property
    def plot_right(self) -> int:
        return self.width - self.right

    @property
    def plot_bottom(self) -> int:
        return self.height - self.bottom


RISK_FRAME = Frame(width=480, height=270, left=46, right=14, top=34, bottom=40)
LAB_FRAME = Frame(width=320, height=190, left=54, right=12, top=30, bottom=36)
CALIBRATION_FRAME = Frame(width=320, height=330, left=44, right=16, top=54, bottom=40)

_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
# Characters XML 1.0 does not allow even escaped (control characters other than tab/newline).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class RiskSeries:
    """One horizon's probabilities per day (None: no prediction that day, the line breaks),
    with an optional 95 % interval band (``low``/``high``) and an optional no-lab reference
    (drawn dashed in the same colour)."""

    label: str
    probabilities: Sequence[float | None]
    low: Sequence[float | None] | None = None
    high: Sequence[float | None] | None = None
    reference: Sequence[float | None] | None = None


@dataclass(frozen=True)
class CalibrationPoint:
    """One bin: mean predicted probability, observed rate with its interval, and its size."""

    predicted: float
    observed: float
    low: float | None = None
    high: float | None = None
    n: int = 0

    @classmethod
    def from_bin(cls, bin_) -> CalibrationPoint | None:
        """From a ``cohort_validation.CalibrationBin``; None for an empty bin."""
        if not bin_.n or bin_.mean_probability is None or bin_.observed.value is None:
            return None
        return cls(predicted=bin_.mean_probability, observed=bin_.observed.value,
                   low=bin_.observed.low, high=bin_.observed.high, n=bin_.n)


@dataclass(frozen=True)
class CalibrationSeries:
    label: str
    points: Sequence[CalibrationPoint | None]


# ----------------------------------------------------------------------------- public charts


def risk_chart(*, chart_id: str, title: str, description: str, days: Sequence[int],
               series: Sequence[RiskSeries], x_label: str, y_label: str,
               reference_label: str = "", band_label: str = "") -> SafeString:
    """Probability (0-100 %) against day, one line with points per horizon.

    ``days`` are the x positions shared by every series (each series has one entry per day).
    ``reference_label`` names the dashed no-lab reference lines in the legend and
    ``band_label`` the shaded intervals (each shown only when some series has them).
    Raises ValueError when a series' length differs from ``days`` or a value is outside [0, 1].
    """
    days = [float(d) for d in days]
    for s in series:
        for name in ("probabilities", "low", "high", "reference"):
            values = getattr(s, name)
            if values is not None:
                _check_values(values, len(days), f"{s.label}: {name}", probability=True)
    legend = [("line", i, s.label) for i, s in enumerate(series)]
    if reference_label and any(s.reference is not None for s in series):
        legend.append(("dashed", None, reference_label))
    if band_label and any(s.low is not None and s.high is not None for s in series):
        legend.append(("band", None, band_label))
    frame = _fit_legend(RISK_FRAME, legend)
    x = _linear(*_day_domain(days), frame.left, frame.plot_right)
    y = _linear(0.0, 1.0, frame.plot_bottom, frame.top)
    out = _open(frame, chart_id, title, description, "chart chart-risk")
    out += _y_grid(frame, y, [(t, f"{round(t * 100)}%") for t in (0, 0.25, 0.5, 0.75, 1)])
    out += _x_ticks(frame, x, [(d, _number(d)) for d in _day_ticks(days)])
    out += _axes(frame, x_label, y_label)
    for i, s in enumerate(series):
        colour, marker, cls = _style(i)
        if s.low is not None and s.high is not None:
            for part in _segments(days, s.low, s.high):
                upper = [(x(d), y(hi)) for d, _, hi in part]
                lower = [(x(d), y(lo)) for d, lo, _ in reversed(part)]
                out += (f'<polygon class="band {cls}" points="{_points(upper + lower)}" '
                        f'fill="{colour}" fill-opacity="0.15" stroke="none"/>')
    for i, s in enumerate(series):
        colour, marker, cls = _style(i)
        if s.reference is not None:
            for part in _segments(days, s.reference):
                out += (f'<polyline class="reference {cls}" points="'
                        f'{_points([(x(d), y(v)) for d, v in part])}" fill="none" '
                        f'stroke="{colour}" stroke-width="1.5" stroke-dasharray="5 4"/>')
        for part in _segments(days, s.probabilities):
            out += (f'<polyline class="line {cls}" points="'
                    f'{_points([(x(d), y(v)) for d, v in part])}" fill="none" '
                    f'stroke="{colour}" stroke-width="2.2"/>')
        for d, v in zip(days, s.probabilities):
            if v is not None:
                tip = f"{s.label}, {x_label} {_number(d)}: {shown_percent(v)}%"  # never 0 %
                out += _marker(marker, x(d), y(v), 3.2, colour, f"point {cls}", tip)
    out += _legend(frame, legend)
    return _close(out)


def lab_chart(*, chart_id: str, title: str, description: str, days: Sequence[int],
              values: Sequence[float | None], x_label: str, y_label: str,
              typical_range: tuple[float, float] | None = None, range_label: str = "",
              log_scale: bool | None = None) -> SafeString:
    """One lab value over the days, with the typical range as a shaded band.

    ``log_scale``: True or False, or None to decide: logarithmic when every value (and the
    range) is positive and they span two decades or more, as IL-6 or ferritin often do during
    CRS. A logarithmic axis cannot show zero or a negative value, so with such a value the
    axis stays linear whatever was asked. Raises ValueError for a length mismatch or a value
    that is not a finite number.
    """
    days = [float(d) for d in days]
    _check_values(values, len(days), y_label, probability=False)
    present = [float(v) for v in values if v is not None]
    positive = bool(present) and min(present) > 0
    # A typical range starting at 0 (as many cytokines' do) still allows a logarithmic axis:
    # its band is then cut at the bottom of the axis.
    span = present + [v for v in (typical_range or ()) if not positive or v > 0]
    if log_scale is None:
        log_scale = positive and max(span) / min(span) >= 100
    log_scale = log_scale and positive
    legend = [("band-range", None, range_label)] if typical_range and range_label else []
    frame = _fit_legend(LAB_FRAME, legend)
    x = _linear(*_day_domain(days), frame.left, frame.plot_right)
    if log_scale:
        low, high = math.floor(math.log10(min(span))), math.ceil(math.log10(max(span)))
        high = max(high, low + 1)
        log_y = _log(10.0 ** low, 10.0 ** high, frame.plot_bottom, frame.top)
        y = lambda v: log_y(max(float(v), 10.0 ** low))  # noqa: E731 (cut at the axis)
        ticks = [(10.0 ** k, _decade(k)) for k in range(low, high + 1)]
    else:
        low, high = (min(span), max(span)) if span else (0.0, 1.0)
        if low == high:  # one value, or several equal ones: centre it
            pad = abs(low) * 0.1 or 1.0
            low, high = low - pad, high + pad
        values_at = _nice_ticks(low, high)
        y = _linear(values_at[0], values_at[-1], frame.plot_bottom, frame.top)
        ticks = [(t, _number(t)) for t in values_at]
    scale = "log" if log_scale else "linear"
    out = _open(frame, chart_id, title, description, f"chart chart-lab scale-{scale}")
    if typical_range:
        # Cut the band at the plot area: on a linear axis fitted to the values, a range
        # starting at 0 would otherwise spill below the chart (charts.css shows overflow).
        top = min(max(y(typical_range[1]), frame.top), frame.plot_bottom)
        bottom = min(max(y(typical_range[0]), frame.top), frame.plot_bottom)
        out += (f'<rect class="typical-range" x="{frame.left}" y="{top}" '
                f'width="{frame.plot_right - frame.left}" height="{round(bottom - top, 1)}" '
                f'fill="{RANGE_COLOUR}" stroke="none"/>')
    out += _y_grid(frame, y, ticks)
    out += _x_ticks(frame, x, [(d, _number(d)) for d in _day_ticks(days)])
    out += _axes(frame, x_label, y_label)
    colour, marker, cls = _style(0)
    for part in _segments(days, values):
        out += (f'<polyline class="line {cls}" points="'
                f'{_points([(x(d), y(v)) for d, v in part])}" fill="none" stroke="{colour}" '
                f'stroke-width="2"/>')
    for d, v in zip(days, values):
        if v is not None:
            tip = f"{x_label} {_number(d)}: {_number(v)}"
            out += _marker(marker, x(d), y(v), 3, colour, f"point {cls}", tip)
    out += _legend(frame, legend)
    return _close(out)


def calibration_chart(*, chart_id: str, title: str, description: str,
                      series: Sequence[CalibrationSeries], x_label: str, y_label: str,
                      diagonal_label: str = "") -> SafeString:
    """Observed severe rate against mean predicted probability per bin, with the diagonal
    (perfect calibration, dashed) and each bin's bootstrap interval as a whisker. Larger bins
    get larger points. Empty bins (None) are skipped. Raises ValueError for a figure outside
    [0, 1]."""
    for s in series:
        for p in s.points:
            if p is not None:
                _check_values([p.predicted, p.observed, p.low, p.high], 4, s.label,
                              probability=True)
    legend = [("line", i, s.label) for i, s in enumerate(series)]
    if diagonal_label:
        legend.append(("diagonal", None, diagonal_label))
    frame = _fit_legend(CALIBRATION_FRAME, legend)
    x = _linear(0.0, 1.0, frame.left, frame.plot_right)
    y = _linear(0.0, 1.0, frame.plot_bottom, frame.top)
    ticks = [(t, f"{round(t * 100)}%") for t in (0, 0.25, 0.5, 0.75, 1)]
    out = _open(frame, chart_id, title, description, "chart chart-calibration")
    out += _y_grid(frame, y, ticks) + _x_ticks(frame, x, ticks, grid=True)
    out += _axes(frame, x_label, y_label)
    out += (f'<line class="diagonal" x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" '
            f'stroke="{MUTED_COLOUR}" stroke-width="1" stroke-dasharray="4 4"/>')
    largest = max([p.n for s in series for p in s.points if p is not None] + [1])
    for i, s in enumerate(series):
        colour, marker, cls = _style(i)
        points = [p for p in s.points if p is not None]
        # Side by side series are nudged apart so their whiskers do not overlap.
        nudge = (i - (len(series) - 1) / 2) * 4
        for p in points:
            if p.low is not None and p.high is not None:
                px = round(x(p.predicted) + nudge, 1)
                out += (f'<line class="whisker {cls}" x1="{px}" y1="{y(p.low)}" x2="{px}" '
                        f'y2="{y(p.high)}" stroke="{colour}" stroke-width="1.4"/>')
        if len(points) > 1:
            out += (f'<polyline class="line {cls}" points="'
                    f'{_points([(round(x(p.predicted) + nudge, 1), y(p.observed)) for p in points])}"'
                    f' fill="none" stroke="{colour}" stroke-width="1.6"/>')
        for p in points:
            size = round(2.5 + 3.5 * math.sqrt(p.n / largest), 1)
            tip = (f"{s.label}: {_percent(p.predicted)} → {_percent(p.observed)}"
                   + (f" ({_percent(p.low)}–{_percent(p.high)})"
                      if p.low is not None and p.high is not None else "") + f", n = {p.n}")
            out += _marker(marker, round(x(p.predicted) + nudge, 1), y(p.observed), size,
                           colour, f"point {cls}", tip)
    out += _legend(frame, legend)
    return _close(out)


# ----------------------------------------------------------------------------- scales and ticks


def _linear(d0: float, d1: float, r0: float, r1: float):
    if d1 == d0:
        d1 = d0 + 1
    return lambda v: round(r0 + (float(v) - d0) * (r1 - r0) / (d1 - d0), 1)


def _log(d0: float, d1: float, r0: float, r1: float):
    l0, l1 = math.log10(d0), math.log10(d1)
    return lambda v: round(r0 + (math.log10(float(v)) - l0) * (r1 - r0) / (l1 - l0), 1)


def _day_domain(days: list[float]) -> tuple[float, float]:
    if not days:
        return 0.0, 1.0
    low, high = min(days), max(days)
    return (low - 1, high + 1) if low == high else (low, high)


def _day_ticks(days: list[float]) -> list[float]:
    low, high = _day_domain(days)
    for step in (1, 2, 5, 7, 10, 14, 20, 30, 50, 100):
        if (high - low) / step <= 10:
            break
    first = math.ceil(low / step) * step
    return [float(t) for t in range(int(first), int(math.floor(high)) + 1, step)]


def _nice_ticks(low: float, high: float) -> list[float]:
    """About five round ticks covering [low, high] (steps 1, 2, 2.5 or 5 times a power of 10)."""
    if high <= low:
        high = low + 1
    raw = (high - low) / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    count = math.ceil((high - start) / step - 1e-9)
    return [round(start + k * step, 10) for k in range(count + 1)]


def _number(value: float) -> str:
    value = float(value)
    if value == int(value) and abs(value) < 1e9:
        return str(int(value))
    if abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.3g}"


def _decade(power: int) -> str:
    """A decade's tick label: 0.01 to 100 as they are, larger ones as 10³, 10⁴, ..."""
    if -2 <= power <= 2:
        return _number(10.0 ** power)
    sign = "⁻" if power < 0 else ""
    return "10" + sign + "".join("⁰¹²³⁴⁵⁶⁷⁸⁹"[int(c)] for c in str(abs(power)))


def _percent(value: float) -> str:
    percent = value * 100
    return f"{percent:.0f}%" if percent >= 10 or percent == 0 else f"{percent:.1f}%"


# ----------------------------------------------------------------------------- drawing helpers


def _text(value: object) -> str:
    return escape(_NOT_XML.sub("", str(value)))


def _style(i: int) -> tuple[str, str, str]:
    return SERIES_COLOURS[i % len(SERIES_COLOURS)], MARKERS[i % len(MARKERS)], f"series-{i}"


def _points(coords: list[tuple[float, float]]) -> str:
    return " ".join(f"{px},{py}" for px, py in coords)


def _segments(days: list[float], *columns):
    """Runs of consecutive days where every column has a value (a None breaks the line)."""
    run = []
    for d, *values in zip(days, *columns):
        if any(v is None for v in values):
            if run:
                yield run
            run = []
        else:
            run.append((d, *(float(v) for v in values)))
    if run:
        yield run


def _check_values(values, n: int, name: str, *, probability: bool) -> None:
    if len(values) != n:
        raise ValueError(f"{name}: {len(values)} values for {n} days")
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{name}: {v!r} is not a finite number")
        if probability and not 0 <= v <= 1:
            raise ValueError(f"{name}: {v!r} is not a probability")


def _open(frame: Frame, chart_id: str, title: str, description: str, classes: str) -> str:
    if not _ID.match(chart_id or ""):
        raise ValueError(f"chart_id {chart_id!r} must be a letter then letters, digits, - or _")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="{classes}" '
            f'viewBox="0 0 {frame.width} {frame.height}" role="img" '
            f'aria-labelledby="{chart_id}-title" aria-describedby="{chart_id}-desc" '
            f'font-family="system-ui, sans-serif" font-size="11">'
            f'<title id="{chart_id}-title">{_text(title)}</title>'
            f'<desc id="{chart_id}-desc">{_text(description)}</desc>')


def _close(body: str) -> SafeString:
    return mark_safe(body + "</svg>")  # every text in body went through _text


def _y_grid(frame: Frame, y, ticks) -> str:
    out = ""
    for value, label in ticks:
        py = y(value)
        out += (f'<line class="grid" x1="{frame.left}" y1="{py}" x2="{frame.plot_right}" '
                f'y2="{py}" stroke="{GRID_COLOUR}" stroke-width="1"/>'
                f'<text class="tick tick-y" x="{frame.left - 6}" y="{py}" text-anchor="end" '
                f'dominant-baseline="middle" fill="{MUTED_COLOUR}">{_text(label)}</text>')
    return out


def _x_ticks(frame: Frame, x, ticks, *, grid: bool = False) -> str:
    out = ""
    for value, label in ticks:
        px = x(value)
        if grid:
            out += (f'<line class="grid" x1="{px}" y1="{frame.top}" x2="{px}" '
                    f'y2="{frame.plot_bottom}" stroke="{GRID_COLOUR}" stroke-width="1"/>')
        out += (f'<line class="tick-mark" x1="{px}" y1="{frame.plot_bottom}" x2="{px}" '
                f'y2="{frame.plot_bottom + 4}" stroke="{AXIS_COLOUR}" stroke-width="1"/>'
                f'<text class="tick tick-x" x="{px}" y="{frame.plot_bottom + 15}" '
                f'text-anchor="middle" fill="{MUTED_COLOUR}">{_text(label)}</text>')
    return out


def _axes(frame: Frame, x_label: str, y_label: str) -> str:
    middle_x = round((frame.left + frame.plot_right) / 2, 1)
    middle_y = round((frame.top + frame.plot_bottom) / 2, 1)
    return (f'<line class="axis" x1="{frame.left}" y1="{frame.plot_bottom}" '
            f'x2="{frame.plot_right}" y2="{frame.plot_bottom}" stroke="{AXIS_COLOUR}" '
            f'stroke-width="1.2"/>'
            f'<line class="axis" x1="{frame.left}" y1="{frame.top}" x2="{frame.left}" '
            f'y2="{frame.plot_bottom}" stroke="{AXIS_COLOUR}" stroke-width="1.2"/>'
            f'<text class="axis-label axis-label-x" x="{middle_x}" y="{frame.height - 6}" '
            f'text-anchor="middle" fill="{TEXT_COLOUR}" font-size="12">{_text(x_label)}</text>'
            f'<text class="axis-label axis-label-y" x="12" y="{middle_y}" text-anchor="middle" '
            f'transform="rotate(-90 12 {middle_y})" fill="{TEXT_COLOUR}" '
            f'font-size="12">{_text(y_label)}</text>')


def _marker(shape: str, cx: float, cy: float, r: float, colour: str, classes: str,
            tip: str) -> str:
    tooltip = f"<title>{_text(tip)}</title>"
    if shape == "square":
        s = round(r * 0.9, 1)
        return (f'<rect class="{classes}" x="{round(cx - s, 1)}" y="{round(cy - s, 1)}" '
                f'width="{2 * s}" height="{2 * s}" fill="{colour}">{tooltip}</rect>')
    if shape == "diamond":
        s = round(r * 1.25, 1)
        corners = [(cx, round(cy - s, 1)), (round(cx + s, 1), cy), (cx, round(cy + s, 1)),
                   (round(cx - s, 1), cy)]
        return (f'<polygon class="{classes}" points="{_points(corners)}" '
                f'fill="{colour}">{tooltip}</polygon>')
    return f'<circle class="{classes}" cx="{cx}" cy="{cy}" r="{r}" fill="{colour}">{tooltip}</circle>'


def _label_width(label: str) -> float:
    # No font metrics on the server: CJK glyphs are about a full em, Latin about half.
    return sum(11.0 if ord(c) >= 0x2E80 else 6.2 for c in label)


LEGEND_ROW = 14


def _legend_places(frame: Frame, items) -> list[tuple[float, float]]:
    """Where each legend entry starts: in rows above the plot, wrapping when a row is full."""
    places, px, py = [], float(frame.left), float(LEGEND_ROW)
    for _, _, label in items:
        width = 26 + _label_width(label) + 14
        if px + width > frame.width - frame.right and px > frame.left:
            px, py = float(frame.left), py + LEGEND_ROW
        places.append((px, py))
        px += width
    return places


def _fit_legend(frame: Frame, items) -> Frame:
    """The frame made taller at the top when the legend needs more rows than it leaves."""
    rows = len({py for _, py in _legend_places(frame, items)})
    extra = max(0, rows * LEGEND_ROW + 8 - frame.top)
    return replace(frame, top=frame.top + extra, height=frame.height + extra) if extra else frame


def _legend(frame: Frame, items) -> str:
    if not items:
        return ""
    out = '<g class="legend">'
    for (kind, index, label), (px, py) in zip(items, _legend_places(frame, items)):
        sample_y = py - 4
        if kind == "line":
            colour, marker, cls = _style(index)
            out += (f'<line class="legend-line {cls}" x1="{px}" y1="{sample_y}" x2="{px + 20}" '
                    f'y2="{sample_y}" stroke="{colour}" stroke-width="2.2"/>')
            out += _marker(marker, px + 10, sample_y, 3, colour, f"legend-point {cls}", label)
        elif kind in ("dashed", "diagonal"):
            out += (f'<line class="legend-{kind}" x1="{px}" y1="{sample_y}" x2="{px + 20}" '
                    f'y2="{sample_y}" stroke="{MUTED_COLOUR}" stroke-width="1.5" '
                    f'stroke-dasharray="5 4"/>')
        else:  # a shaded band: an interval or the typical range
            fill = RANGE_COLOUR if kind == "band-range" else SERIES_COLOURS[0]
            opacity = "1" if kind == "band-range" else "0.15"
            out += (f'<rect class="legend-{kind}" x="{px}" y="{sample_y - 5}" width="20" '
                    f'height="10" fill="{fill}" fill-opacity="{opacity}"/>')
        out += (f'<text class="legend-label" x="{px + 26}" y="{py}" '
                f'fill="{TEXT_COLOUR}">{_text(label)}</text>')
    return out + "</g>"
