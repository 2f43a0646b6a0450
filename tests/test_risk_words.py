"""Risk in words (issue 16, item 7): a natural frequency of 100 beside each percentage and an icon
array of 100 drawn on the server (grouped, CSP-safe, accessible), in both languages."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html import unescape

import pytest
from django.utils import translation

from predictor.risk_words.frequency import natural_frequency
from predictor.risk_words.icon_array import COLUMNS, icon_array
from predictor.scoring.prediction import predict
from tests.conftest import CYTOKINES

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("p, count, text", [
    (0.07, 7, "About 7 in 100 patient-days like this one are followed by severe CRS tomorrow."),
    (0.065, 7, "About 7 in 100"),  # rounded half up, as the page rounds percents
    (0.011, 1, "About 1 in 100 patient-days like this one is followed by severe CRS tomorrow."),
    (0.005, 0, "Fewer than 1 in 100 patient-days like this one are followed by severe CRS "
               "tomorrow."),
    (0.995, 99, "More than 99 in 100 patient-days like this one"),
    (0.5, 50, "About 50 in 100")])
def test_the_natural_frequency_has_a_fixed_denominator_of_100(p, count, text):
    with translation.override("en"):
        found = natural_frequency(p, "tomorrow")
    assert found.count == count and text in found.text


def test_the_natural_frequency_is_said_in_chinese():
    with translation.override("zh-hans"):
        assert natural_frequency(0.07, "明天").text == \
            "在与此相似的每 100 个患者日中，约有 7 个明天发生重度 CRS。"
        assert "不到 1 个" in natural_frequency(0.001, "明天").text


def icons(svg: str) -> list[tuple[int, int, bool]]:
    root = ET.fromstring(svg)
    rects = root.findall(f"{SVG}rect")
    return [(float(r.get("y")), float(r.get("x")), "icon-filled" in r.get("class"))
            for r in rects]


@pytest.mark.parametrize("count", [0, 1, 7, 23, 50, 99, 100])
def test_the_icon_array_fills_count_icons_as_one_block_in_reading_order(count):
    svg = str(icon_array(count, title="t", chart_id="x"))
    found = icons(svg)
    assert len(found) == 100
    in_reading_order = sorted(found)
    assert [filled for _, _, filled in in_reading_order] == [True] * count + [False] * (100 - count)
    rows = sorted({y for y, _, _ in found})
    assert len(rows) == 100 // COLUMNS


def test_the_icon_array_is_csp_safe_and_accessible():
    svg = str(icon_array(7, title='7 in 100 <script>alert("x")</script> & more',
                         chart_id='h1"><script>'))
    assert "<script" not in svg and "style=" not in svg and "on" + "load" not in svg
    root = ET.fromstring(svg)
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    assert title.text == '7 in 100 <script>alert("x")</script> & more'
    assert root.get("aria-labelledby") == title.get("id")


def text_of(html: str) -> str:
    html = re.sub(r"<svg.*?</svg>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


@pytest.mark.django_db
@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_each_result_shows_its_frequency_and_icon_array(client, tiny_context_models, lang):
    html = client.post(f"/{lang}/", {**CYTOKINES, "crs_grade": "1", "day": "4",
                                     "horizon": "all"}).content.decode()
    figures = re.findall(r'<figure class="risk-words">(.*?)</figure>', html, re.S)
    assert len(figures) == 3
    with translation.override(lang):
        results = predict(CYTOKINES, [1, 2, 3], percent_input=True,
                          context={"crs_grade": 1, "day": 4})
    for figure, result in zip(figures, results):
        svg = re.search(r"<svg.*?</svg>", figure, re.S).group(0)
        filled = sum(f for _, _, f in icons(svg))
        count = round(result.probability * 100)
        caption = text_of(figure)
        assert str(count) in caption or result.probability < 0.01
        assert filled == (0 if result.probability < 0.01 else min(count, 99))
    # The no-lab reference beside each answer gets its frequency too.
    assert len(re.findall(r'class="natural-frequency reference-frequency"', html)) == 3


@pytest.mark.django_db
@pytest.mark.parametrize("lang, pattern", [("en", r"about (\d+) in 100"),
                                           ("zh-hans", r"每 100 个中约 (\d+) 个")])
def test_each_course_cell_gives_its_frequency_beside_the_percentage(client, tiny_context_models,
                                                                   lang, pattern):
    text = "\t".join(["day", "crs_grade", *CYTOKINES]) + "\n" + "".join(
        "\t".join([str(day), "1", *CYTOKINES.values()]) + "\n" for day in (2, 3))
    html = client.post(f"/{lang}/course/", {"text": text}).content.decode()
    cells = re.findall(r'<td class="cell-prediction">(.*?)</td>', html, re.S)
    assert len(cells) == 6
    for cell in cells:
        percent = re.search(r'class="cell-probability">(\d+) %', cell).group(1)
        frequency = re.search(r'class="cell-frequency">(.*?)</span>', cell).group(1)
        assert re.fullmatch(pattern, frequency).group(1) == percent
