"""Issue 16 item 6 in real headless Chromium: a prediction (all three horizons, with context)
prints to ONE A4 page carrying the date, the label typed on the page, the model versions, the
interval and the safety wording; the label never reaches the prediction log; the course prints
its table and charts with the date. PDFs are read back with pypdf.

Needs Debian's chromium and chromium-driver (``make system-packages``).
"""

from __future__ import annotations

import base64
import io
import re

import pytest
from django.utils import timezone

from tests.conftest import CYTOKINES
from tests.test_browser import pytestmark as BROWSER_MARKS
from tests.test_browser import (
    browser,  # noqa: F401 - the fixture
    console_problems,
    field,
    open_panel,
    submit,
    wait_for,
    wait_for_language,
)
from tests.test_course_browser import paste_and_score
from tests.test_course_page import course_text

# the same marks as the other browser tests (live server, committed data, Chromium present)
pytestmark = BROWSER_MARKS
LABEL = "Bed 7 JD"


def print_pdf(driver):
    """The page as Chromium prints it on A4, read back: (pages, text)."""
    from pypdf import PdfReader
    from selenium.webdriver.common.print_page_options import PrintOptions

    options = PrintOptions()
    options.page_width, options.page_height = 21.0, 29.7  # A4, cm
    options.background = False
    pdf = base64.b64decode(driver.print_page(options))
    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), " ".join(page.extract_text() for page in reader.pages)


def fill_prediction(driver, url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(url)
    Select(driver.find_element(By.ID, "id_crs_grade")).select_by_value("1")
    field(driver, "day").send_keys("4")
    open_panel(driver, 4)
    for key, value in CYTOKINES.items():
        field(driver, key).send_keys(value)
    driver.find_element(By.CSS_SELECTOR, 'input[name="horizon"][value="all"]').click()
    submit(driver)
    wait_for(driver, "#result .result-card")


@pytest.mark.parametrize(("path", "language", "words"), [
    ("/en/", "en", ("For research use only", "h1-4-ctx-v1", "h3-4-ctx-v1", "48 pg/mL")),
    ("/zh-hans/", "zh-hans", ("h1-4-ctx-v1", "h3-4-ctx-v1", "48 pg/mL")),
])
def test_a_prediction_prints_on_one_a4_page_with_the_date_and_the_label(
        live_server, tiny_context_models, browser, path, language, words):  # noqa: F811
    from selenium.webdriver.common.by import By

    from predictor.models import PredictionLog

    fill_prediction(browser, live_server.url + path)
    wait_for_language(browser, language)
    browser.find_element(By.ID, "print-label").send_keys(LABEL)
    pages, text = print_pdf(browser)
    flat = re.sub(r"\s+", " ", text)
    assert pages == 1, f"{pages} pages"
    assert timezone.localtime().strftime("%Y-%m-%d") in flat
    assert LABEL in flat
    for word in words:
        assert word in flat, word
    assert re.search(r"\d+% \(\d+–\d+%\)", flat), "no interval"
    assert not console_problems(browser)
    assert PredictionLog.objects.count() == 3
    for row in PredictionLog.objects.all():
        assert LABEL not in repr(vars(row))


def test_the_course_prints_its_table_and_charts_with_the_date(
        live_server, tiny_context_models, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    browser.get(live_server.url + "/en/course/")
    paste_and_score(browser, course_text())
    wait_for(browser, "#course-result table.course-table")
    pages, text = print_pdf(browser)
    flat = re.sub(r"\s+", " ", text)
    assert 1 <= pages <= 3, f"{pages} pages"
    assert timezone.localtime().strftime("%Y-%m-%d") in flat
    assert "Prediction per day and horizon" in flat and "Key lab values" in flat, flat
    assert "Paste rows copied" not in flat  # the input form is not printed
    # after scoring, the box still holds the sheet
    assert browser.find_element(By.ID, "course-text").get_attribute("value").startswith("day")


LOOSE = {"il6": "48", "crp": "35", "ferritin": "900", "il10": "7.2", "ifn_gamma": "12"}


@pytest.mark.parametrize(("path", "language", "status_word", "kind"), [
    ("/en/", "en", "no-lab reference", "complete no panel"),
    ("/zh-hans/", "zh-hans", "无化验参考模型", "未能补全任何一组指标"),
])
def test_grade_day_and_five_loose_labs_get_an_answer_that_prints_on_one_page(
        live_server, tiny_context_models, browser, path, language, status_word,  # noqa: F811
        kind):
    """Issue 16 items 1 and 6: the form the physician of the issue fills in."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(live_server.url + path)
    wait_for_language(browser, language)
    Select(browser.find_element(By.ID, "id_crs_grade")).select_by_value("1")
    field(browser, "day").send_keys("4")
    for panel in (3, 4):
        open_panel(browser, panel)
    for key, value in LOOSE.items():
        field(browser, key).send_keys(value)
    status = browser.find_element(By.CSS_SELECTOR, ".combination-status")
    assert status_word in status.text
    browser.find_element(By.CSS_SELECTOR, 'input[name="horizon"][value="all"]').click()
    submit(browser)
    wait_for(browser, "#result .result-card")
    result = browser.find_element(By.ID, "result").text
    assert kind in result
    assert len(browser.find_elements(By.CSS_SELECTOR, ".value-use-list li")) >= 5
    assert not browser.find_elements(By.CSS_SELECTOR, ".field-warning")  # realistic values
    pages, text = print_pdf(browser)
    assert pages == 1, f"{pages} pages"
    assert timezone.localtime().strftime("%Y-%m-%d") in text
    assert not console_problems(browser)
