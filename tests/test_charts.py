"""Server-drawn SVG charts of a patient course and of a cohort validation (issue 9 item 1)."""

import math
import xml.etree.ElementTree as ET

import pytest
from django.utils.safestring import SafeString

from predictor.cohorts import charts
from predictor.cohorts.charts import CalibrationPoint, CalibrationSeries, RiskSeries
from predictor.cohorts.cohort_validation import HorizonRows, validate_horizon

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def all_of(root: ET.Element, tag: str, cls: str | None = None) -> list[ET.Element]:
    found = root.iter(SVG + tag)
    return [e for e in found if cls is None or cls in e.get("class", "").split()]


def coords(points: str) -> list[tuple[float, float]]:
    return [tuple(float(v) for v in p.split(",")) for p in points.split()]


def flat(pairs) -> list[float]:
    return [v for pair in pairs for v in pair]


def risk(**overrides) -> str:
    kwargs = dict(chart_id="risk", title="Risk over the days", description="Three horizons.",
                  days=[0, 1, 2], x_label="day", y_label="probability",
                  series=[RiskSeries("tomorrow", [0.1, 0.2, 0.3])])
    return charts.risk_chart(**{**kwargs, **overrides})


def lab(**overrides) -> str:
    kwargs = dict(chart_id="il6", title="IL-6", description="IL-6 by day.", days=[0, 1, 2],
                  values=[5.0, 50.0, 500.0], x_label="day", y_label="IL-6 (pg/mL)")
    return charts.lab_chart(**{**kwargs, **overrides})


def calibration(**overrides) -> str:
    kwargs = dict(chart_id="cal", title="Calibration", description="Predicted and observed.",
                  x_label="predicted", y_label="observed",
                  series=[CalibrationSeries("models", [CalibrationPoint(0.1, 0.2, 0.05, 0.3, 40)])])
    return charts.calibration_chart(**{**kwargs, **overrides})


ALL_CHARTS = [risk, lab, calibration]


# ----------------------------------------------------------------------------- every chart


@pytest.mark.parametrize("draw", ALL_CHARTS)
def test_every_chart_is_well_formed_svg_with_an_accessible_title_and_description(draw):
    svg = draw()
    assert isinstance(svg, SafeString)
    root = parse(svg)
    assert root.tag == SVG + "svg"
    assert root.get("role") == "img"
    title = root.find(SVG + "title")
    desc = root.find(SVG + "desc")
    assert title is not None and title.text and desc is not None and desc.text
    assert root.get("aria-labelledby") == title.get("id")
    assert root.get("aria-describedby") == desc.get("id")
    assert root.get("viewBox").startswith("0 0 ")


@pytest.mark.parametrize("draw", ALL_CHARTS)
def test_no_chart_uses_an_inline_style_or_a_script(draw):
    svg = draw()
    root = parse(svg)
    for element in root.iter():
        assert "style" not in element.attrib
        assert not any(name.startswith("on") for name in element.attrib)
        assert element.tag not in (SVG + "style", SVG + "script")
    assert "style=" not in svg


def test_every_label_is_escaped_and_stays_text():
    nasty = '<script>alert("x")</script> & <b>'
    svg = charts.risk_chart(
        chart_id="risk", title=f"T {nasty}", description=f"D {nasty}", days=[0, 1],
        x_label=f"X {nasty}", y_label=f"Y {nasty}", reference_label=f"R {nasty}",
        band_label=f"B {nasty}",
        series=[RiskSeries(f"S {nasty}", [0.1, 0.2], low=[0.0, 0.1], high=[0.2, 0.3],
                           reference=[0.1, 0.1])])
    root = parse(svg)
    assert not all_of(root, "script") and not all_of(root, "b")
    assert not list(root.iter("script")) and not list(root.iter("b"))
    texts = {e.text for e in root.iter() if e.text}
    for prefix in "TDXYRBS":
        assert f"{prefix} {nasty}" in texts
    assert "&lt;script&gt;" in svg and "&amp; &lt;b&gt;" in svg


@pytest.mark.parametrize("draw, field", [(risk, "title"), (lab, "y_label"),
                                         (calibration, "x_label")])
def test_control_characters_in_a_label_do_not_break_the_svg(draw, field):
    root = parse(draw(**{field: "bad\x00\x1b label"}))
    assert "bad label" in {e.text for e in root.iter() if e.text}


@pytest.mark.parametrize("draw", ALL_CHARTS)
def test_a_chart_id_that_is_not_a_plain_name_is_refused(draw):
    with pytest.raises(ValueError, match="chart_id"):
        draw(chart_id='x" onload="alert(1)')


# ----------------------------------------------------------------------------- risk over days


def test_risk_points_sit_at_the_day_and_percentage_they_show():
    frame = charts.RISK_FRAME
    root = parse(risk(days=[0, 5, 10], series=[RiskSeries("tomorrow", [0.0, 0.5, 1.0])]))
    middle_x = (frame.left + frame.plot_right) / 2
    middle_y = (frame.top + frame.plot_bottom) / 2
    expected = [(frame.left, frame.plot_bottom), (middle_x, middle_y),
                (frame.plot_right, frame.top)]
    line, = all_of(root, "polyline", "line")
    assert flat(coords(line.get("points"))) == pytest.approx(flat(expected), abs=0.051)
    points = [(float(c.get("cx")), float(c.get("cy"))) for c in all_of(root, "circle", "point")]
    assert flat(points) == pytest.approx(flat(expected), abs=0.051)
    assert [t.text for t in all_of(root, "text", "tick-y")] == ["0%", "25%", "50%", "75%", "100%"]
    assert [t.text for t in all_of(root, "text", "tick-x")] == [str(d) for d in range(11)]


def test_a_day_without_prediction_breaks_the_line_instead_of_bridging_it():
    root = parse(risk(days=[0, 1, 2, 3, 4],
                      series=[RiskSeries("tomorrow", [0.1, 0.2, None, 0.3, 0.4])]))
    lines = all_of(root, "polyline", "line")
    assert [len(coords(line.get("points"))) for line in lines] == [2, 2]
    assert len(all_of(root, "circle", "point")) == 4


def test_each_horizon_has_its_own_line_legend_and_marker_shape():
    root = parse(risk(series=[RiskSeries("tomorrow", [0.1, 0.2, 0.3]),
                              RiskSeries("in two days", [0.2, 0.3, 0.4]),
                              RiskSeries("in three days", [0.3, 0.4, 0.5])]))
    lines = all_of(root, "polyline", "line")
    assert [line.get("class") for line in lines] == [
        "line series-0", "line series-1", "line series-2"]
    assert len({line.get("stroke") for line in lines}) == 3
    assert len(all_of(root, "circle", "point")) == 3
    assert len(all_of(root, "rect", "point")) == 3
    assert len(all_of(root, "polygon", "point")) == 3
    legend = [t.text for t in all_of(root, "text", "legend-label")]
    assert legend == ["tomorrow", "in two days", "in three days"]


def test_the_interval_band_and_the_dashed_no_lab_reference_are_drawn_when_given():
    frame = charts.RISK_FRAME
    root = parse(risk(days=[0, 10], reference_label="without labs", band_label="95 % interval",
                      series=[RiskSeries("tomorrow", [0.5, 0.5], low=[0.0, 0.25],
                                         high=[1.0, 0.75], reference=[0.25, 0.25])]))
    band, = all_of(root, "polygon", "band")
    height = frame.plot_bottom - frame.top
    assert flat(coords(band.get("points"))) == pytest.approx(flat([
        (frame.left, frame.top), (frame.plot_right, frame.plot_bottom - 0.75 * height),
        (frame.plot_right, frame.plot_bottom - 0.25 * height), (frame.left, frame.plot_bottom)]),
        abs=0.051)
    reference, = all_of(root, "polyline", "reference")
    assert reference.get("stroke-dasharray")
    assert [y for _, y in coords(reference.get("points"))] == pytest.approx(
        [frame.plot_bottom - 0.25 * height] * 2, abs=0.051)
    legend = [t.text for t in all_of(root, "text", "legend-label")]
    assert legend == ["tomorrow", "without labs", "95 % interval"]


def test_no_reference_or_band_means_no_legend_entry_for_them():
    root = parse(risk(reference_label="without labs", band_label="95 % interval"))
    assert [t.text for t in all_of(root, "text", "legend-label")] == ["tomorrow"]
    assert not all_of(root, "polygon", "band") and not all_of(root, "polyline", "reference")


def test_a_single_day_course_still_draws_its_point_inside_the_plot():
    frame = charts.RISK_FRAME
    root = parse(risk(days=[4], series=[RiskSeries("tomorrow", [0.3])]))
    point, = all_of(root, "circle", "point")
    assert float(point.get("cx")) == pytest.approx((frame.left + frame.plot_right) / 2, abs=0.051)


@pytest.mark.parametrize("series, message", [
    (RiskSeries("tomorrow", [0.1, 0.2]), "2 values for 3 days"),
    (RiskSeries("tomorrow", [0.1, 1.5, 0.2]), "not a probability"),
    (RiskSeries("tomorrow", [0.1, float("nan"), 0.2]), "not a finite number"),
    (RiskSeries("tomorrow", [0.1, 0.2, 0.3], reference=[0.1]), "reference"),
])
def test_risk_values_that_cannot_be_drawn_are_refused(series, message):
    with pytest.raises(ValueError, match=message):
        risk(series=[series])


# ----------------------------------------------------------------------------- one lab value


def test_values_spanning_decades_get_a_logarithmic_axis_with_evenly_spaced_decades():
    frame = charts.LAB_FRAME
    root = parse(lab(values=[1.0, 10.0, 100.0, 1000.0], days=[0, 1, 2, 3]))
    assert "scale-log" in root.get("class")
    ys = [float(c.get("cy")) for c in all_of(root, "circle", "point")]
    assert ys[0] == pytest.approx(frame.plot_bottom, abs=0.051)
    assert ys[-1] == pytest.approx(frame.top, abs=0.051)
    gaps = [a - b for a, b in zip(ys, ys[1:])]
    assert max(gaps) - min(gaps) < 0.2  # each decade takes the same height
    assert [t.text for t in all_of(root, "text", "tick-y")] == ["1", "10", "100", "10³"]


def test_values_within_one_decade_keep_a_linear_axis_unless_asked():
    assert "scale-linear" in parse(lab(values=[130.0, 140.0, 135.0])).get("class")
    assert "scale-log" in parse(lab(values=[130.0, 140.0, 135.0], log_scale=True)).get("class")


def test_a_zero_value_keeps_the_axis_linear_even_when_log_is_asked():
    root = parse(lab(values=[0.0, 50.0, 5000.0], log_scale=True))
    assert "scale-linear" in root.get("class")
    assert len(all_of(root, "circle", "point")) == 3


def test_the_typical_range_is_a_band_between_its_two_values():
    frame = charts.LAB_FRAME
    root = parse(lab(values=[0.0, 10.0, 20.0], typical_range=(5.0, 15.0), range_label="typical",
                     log_scale=False))
    band, = all_of(root, "rect", "typical-range")
    ticks = [float(t.text) for t in all_of(root, "text", "tick-y")]
    assert (ticks[0], ticks[-1]) == (0.0, 20.0)
    height = frame.plot_bottom - frame.top
    assert float(band.get("y")) == pytest.approx(frame.plot_bottom - 0.75 * height, abs=0.051)
    assert float(band.get("height")) == pytest.approx(0.5 * height, abs=0.11)
    assert [t.text for t in all_of(root, "text", "legend-label")] == ["typical"]


def test_a_typical_range_from_zero_does_not_prevent_a_logarithmic_axis():
    frame = charts.LAB_FRAME
    root = parse(lab(values=[3.0, 300.0, 3000.0], typical_range=(0.0, 7.0)))
    assert "scale-log" in root.get("class")
    band, = all_of(root, "rect", "typical-range")
    bottom = float(band.get("y")) + float(band.get("height"))
    assert bottom == pytest.approx(frame.plot_bottom, abs=0.11)  # cut at the axis, not below


def test_a_missing_lab_value_leaves_a_gap():
    root = parse(lab(days=[0, 1, 2, 3], values=[5.0, None, 50.0, 60.0]))
    assert [len(coords(p.get("points"))) for p in all_of(root, "polyline", "line")] == [1, 2]
    assert len(all_of(root, "circle", "point")) == 3


def test_lab_values_that_are_not_numbers_are_refused():
    with pytest.raises(ValueError, match="not a finite number"):
        lab(values=[1.0, "12", 3.0])
    with pytest.raises(ValueError, match="not a finite number"):
        lab(values=[1.0, math.inf, 3.0])


# ----------------------------------------------------------------------------- calibration


def test_calibration_points_whiskers_and_diagonal_are_where_the_figures_say():
    frame = charts.CALIBRATION_FRAME
    width, height = frame.plot_right - frame.left, frame.plot_bottom - frame.top
    root = parse(calibration(diagonal_label="perfect calibration", series=[CalibrationSeries(
        "models", [CalibrationPoint(0.25, 0.5, 0.25, 0.75, 30), None,
                   CalibrationPoint(0.75, 1.0, None, None, 10)])]))
    diagonal, = all_of(root, "line", "diagonal")
    assert [float(diagonal.get(k)) for k in ("x1", "y1", "x2", "y2")] == pytest.approx(
        [frame.left, frame.plot_bottom, frame.plot_right, frame.top], abs=0.051)
    first, second = all_of(root, "circle", "point")
    assert (float(first.get("cx")), float(first.get("cy"))) == pytest.approx(
        (frame.left + 0.25 * width, frame.plot_bottom - 0.5 * height), abs=0.051)
    assert float(second.get("cy")) == pytest.approx(frame.top, abs=0.051)
    assert float(first.get("r")) > float(second.get("r"))  # 30 days against 10
    whisker, = all_of(root, "line", "whisker")  # the bin without an interval has none
    assert float(whisker.get("x1")) == float(first.get("cx"))
    assert (float(whisker.get("y1")), float(whisker.get("y2"))) == pytest.approx(
        (frame.plot_bottom - 0.25 * height, frame.plot_bottom - 0.75 * height), abs=0.051)
    legend = [t.text for t in all_of(root, "text", "legend-label")]
    assert legend == ["models", "perfect calibration"]


def test_the_calibration_of_a_validation_report_can_be_drawn_directly():
    patients = [p for p in range(20) for _ in range(5)]
    probability = [((p * 5 + d) % 10) / 10 + 0.05 for p in range(20) for d in range(5)]
    outcome = [int(q > 0.6) for q in probability]
    report = validate_horizon(rows=HorizonRows(
        horizon=1, patients=patients, probability=probability, raw_probability=probability,
        outcome=outcome, reference_probability=[0.3] * len(patients)), resamples=100)
    subset = report.all_rows
    series = [CalibrationSeries("with labs", [CalibrationPoint.from_bin(b)
                                              for b in subset.models.calibration]),
              CalibrationSeries("without labs", [CalibrationPoint.from_bin(b)
                                                 for b in subset.reference.calibration])]
    root = parse(calibration(series=series))
    assert len(all_of(root, "circle", "point")) == 10  # ten filled bins
    assert len(all_of(root, "rect", "point")) == 1  # the reference's one filled bin


def test_a_calibration_figure_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="not a probability"):
        calibration(series=[CalibrationSeries("models", [CalibrationPoint(0.2, 1.2)])])


def test_a_long_legend_makes_the_chart_taller_instead_of_covering_the_plot():
    labels = ["tomorrow (probability of severe CRS)", "the day after tomorrow (probability)",
              "in three days (probability of severe CRS)"]
    root = parse(risk(reference_label="without lab values, from grade and day only",
                      band_label="95 % interval of the reference counts",
                      series=[RiskSeries(label, [0.1, 0.2, 0.3], low=[0, 0.1, 0.2],
                                         high=[0.2, 0.3, 0.4], reference=[0.1, 0.1, 0.1])
                              for label in labels]))
    legend_rows = {float(t.get("y")) for t in all_of(root, "text", "legend-label")}
    assert len(legend_rows) >= 3
    y_axis = [a for a in all_of(root, "line", "axis") if a.get("x1") == a.get("x2")][0]
    plot_top = float(y_axis.get("y1"))
    assert max(legend_rows) + 6 <= plot_top
    assert float(root.get("viewBox").split()[3]) > charts.RISK_FRAME.height
