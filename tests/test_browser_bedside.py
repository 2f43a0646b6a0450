"""Issue 16 in headless Chromium on a phone (390 px): the form with CRS grade, day and loose labs,
then "why this number", the outcome in words, the natural frequency and its icon array of 100,
and the published bedside scores, in both languages; nothing wider than the screen, no CSP
refusal, and the icon array still drawn with print styles."""

from __future__ import annotations

import re

import pytest

from tests.conftest import CYTOKINES
from tests.test_browser import (  # noqa: F401 - browser is a fixture, pytestmark the marks
    browser,
    console_problems,
    field,
    open_panel,
    pytestmark,
    screenshot,
    submit,
    wait_for,
    wait_for_language,
)

LOOSE = {"ldh": "240", "crp": "80", "platelets": "60"}  # complete no panel: scores only


def fill_the_chart(browser, grade: str, day: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(field(browser, "crs_grade")).select_by_value(grade)
    field(browser, "day").send_keys(day)
    for panel in (2, 3, 4):
        open_panel(browser, panel)
    for key, value in {**CYTOKINES, **LOOSE}.items():
        field(browser, key).send_keys(value)


@pytest.mark.parametrize("lang, why, frequency, outcome, scores", [
    ("en", "Why this number", r"(About \d+|Fewer than 1|More than 99) in 100 patient-days",
     "persists", "Published bedside scores"),
    ("zh-hans", "为什么是这个数值", r"在与此相似的每 100 个患者日中", "仍持续", "已发表的床旁评分")])
def test_on_a_phone_the_result_explains_itself_in_words_and_icons(
        live_server, transactional_db, tiny_context_models, browser, lang, why, frequency,
        outcome, scores):
    from selenium.webdriver.common.by import By

    browser.set_window_size(390, 844)
    browser.get(f"{live_server.url}/{lang}/")
    wait_for_language(browser, lang)
    fill_the_chart(browser, "3", "4")
    submit(browser)
    wait_for(browser, "#result")
    cards = browser.find_elements(By.CSS_SELECTOR, ".result-card")
    assert len(cards) == 3
    for card in cards:
        assert why in card.find_element(By.CSS_SELECTOR, ".why-number").text
        assert outcome in card.find_element(By.CSS_SELECTOR, ".outcome-statement").text
        caption = card.find_element(By.CSS_SELECTOR, ".risk-words .natural-frequency").text
        assert re.search(frequency, caption), caption
        icons = card.find_element(By.CSS_SELECTOR, "svg.icon-array")
        assert len(icons.find_elements(By.CSS_SELECTOR, "rect.icon")) == 100
        filled = len(icons.find_elements(By.CSS_SELECTOR, "rect.icon-filled"))
        number = re.search(r"\d+", caption.replace("100", "", 1))
        if number and "Fewer" not in caption and "不到" not in caption:
            assert filled == int(number.group(0))
        box = icons.rect
        assert 60 <= box["width"] <= card.rect["width"] and box["height"] > 60  # legible
    assert scores in browser.find_element(By.ID, "bedside-scores").text
    assert "m-EASIX 32" in browser.find_element(By.ID, "bedside-scores").text
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
    assert console_problems(browser) == []
    screenshot(browser, f"prcrs-bedside-phone-{lang}.png")

    # Print: the icon array stays drawn, its empty icons outlined for paper.
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    first = browser.find_element(By.CSS_SELECTOR, "svg.icon-array rect.icon-empty")
    assert first.is_displayed()
    stroke = browser.execute_script(
        "return getComputedStyle(arguments[0]).stroke", first)
    assert stroke not in ("", "none")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


def test_contributions_name_the_entered_values(live_server, transactional_db,
                                               tiny_context_models, browser):
    """The contributions list (or its 'less than 1 point' line) names what was typed."""
    from selenium.webdriver.common.by import By

    browser.set_window_size(390, 844)
    browser.get(f"{live_server.url}/en/")
    wait_for_language(browser, "en")
    fill_the_chart(browser, "1", "4")
    submit(browser)
    wait_for(browser, "#result")
    why = browser.find_elements(By.CSS_SELECTOR, ".result-card .why-number")[0].text
    assert "IL-6 48 pg/mL" in why and "CRS grade 1 today" in why
    assert "day 4 since infusion" in why
    assert "ferritin" not in why.lower()  # not entered: never explained
