"""The real page in headless Chromium: fill a panel, get a result, switch language, see an error.

Needs Debian's chromium and chromium-driver (``make system-packages`` installs them).
Screenshots of both result pages go to the system temp directory for a human to look at.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

from tests.conftest import CYTOKINES
from tests.chromium import chromium_options, start_chromium
from tests.required_tools import chromium_problem, requires_tool

SCREENSHOTS = Path(tempfile.gettempdir())

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data; serialized_rollback brings back the catalogue that the
    # data migration seeded, since the flush after each transactional test empties every table.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    requires_tool(chromium_problem()),
]

# "31% (19–46%)", or at the ends "< 1% (0.2–3%)" / "> 99% (97–> 99%)": never 0 or 100.
SHOWN_ESTIMATE = (r"(< 1|> 99|[1-9]\d?)% \((< 0\.1|0\.[1-9]|[1-9]\d?|> 99)–"
                  r"(< 0\.1|0\.[1-9]|[1-9]\d?|> 99)%\)")


@pytest.fixture
def browser(tmp_path):
    driver = start_chromium(chromium_options(tmp_path))
    yield driver
    driver.quit()


def console_problems(driver) -> list[str]:
    """Errors the page logged since the last call: failed loads, script errors, CSP refusals."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" or "Content Security Policy" in entry["message"]]


def wait_for(driver, css: str, timeout: float = 15):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def wait_for_language(driver, language: str) -> None:
    wait_for(driver, f'html[lang="{language}"] form.prediction-form')


def field(driver, key: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, f"id_{key}")


def open_panel(driver, number: int) -> None:
    from selenium.webdriver.common.by import By

    panel = driver.find_element(By.CSS_SELECTOR, f'details.panel[data-panel="{number}"]')
    if panel.get_attribute("open") is None:
        panel.find_element(By.TAG_NAME, "summary").click()


def submit(driver) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, "form.prediction-form button.button-primary").click()


def screenshot(driver, name: str) -> Path:
    """The whole page, not just the window."""
    width = driver.get_window_size()["width"]
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, max(1000, height + 200))  # + the window frame
    driver.execute_script("window.scrollTo(0, 0)")
    path = SCREENSHOTS / name
    driver.save_screenshot(str(path))
    driver.set_window_size(width, 1000)
    return path


def test_a_physician_fills_the_cytokines_switches_language_and_corrects_a_value(
        live_server, transactional_db, tiny_models, browser):
    from selenium.webdriver.common.by import By

    # Chinese page, cytokine panel filled in; the script counts and names the combination.
    browser.get(live_server.url + "/zh-hans/")
    wait_for_language(browser, "zh-hans")
    assert "细胞因子" in browser.find_element(By.CSS_SELECTOR, 'details[data-panel="4"]').text
    open_panel(browser, 4)
    for key, value in CYTOKINES.items():
        field(browser, key).send_keys(value)
    count = browser.find_element(By.CSS_SELECTOR, 'details[data-panel="4"] .panel-count')
    assert count.text == "已填 7 / 7"
    status = browser.find_element(By.CSS_SELECTOR, ".combination-status")
    assert status.is_displayed() and "4" in status.text and "细胞因子" in status.text
    chosen = browser.find_element(By.CSS_SELECTOR, ".combination-order li.is-chosen")
    assert chosen.get_attribute("data-code") == "4"

    submit(browser)
    wait_for(browser, "#result")
    cards = browser.find_elements(By.CSS_SELECTOR, ".result-card")
    assert [c.get_attribute("data-horizon") for c in cards] == ["1", "2", "3"]
    assert all(c.find_element(By.CSS_SELECTOR, ".probability-percent").text.endswith("%")
               for c in cards)
    result = browser.find_element(By.ID, "result").text
    assert "明天" in result and "后天" in result and "大后天" in result
    assert "参考患者日" in result and "仅供研究使用" in result and "h1-4-v1" in result
    # Side by side on a desktop-wide window.
    tops = {card.location["y"] for card in cards}
    assert len(tops) == 1
    screenshot(browser, "prcrs-result-zh-hans.png")
    assert console_problems(browser) == []

    # Switch to English: the labels change and every value typed stays.
    browser.find_element(By.CSS_SELECTOR, '.language-switch button[value="en"]').click()
    wait_for_language(browser, "en")
    assert "Cytokines" in browser.find_element(By.CSS_SELECTOR, 'details[data-panel="4"]').text
    assert browser.find_element(By.CSS_SELECTOR, 'label[for="id_il6"]').text.startswith("IL-6")
    for key, value in CYTOKINES.items():
        assert field(browser, key).get_attribute("value") == value
    assert not browser.find_elements(By.ID, "result")  # switching runs no prediction
    submit(browser)
    wait_for(browser, "#result")
    result = browser.find_element(By.ID, "result").text
    assert "Tomorrow" in result and "reference patient-days" in result
    assert "For research use only." in result
    screenshot(browser, "prcrs-result-en.png")
    assert console_problems(browser) == []

    # An implausible value: the error sits next to the field, in English, value kept.
    il6 = field(browser, "il6")
    il6.clear()
    il6.send_keys("-5")
    submit(browser)
    wait_for(browser, "#error-summary")
    block = browser.find_element(By.CSS_SELECTOR, ".field.has-error")
    assert block.find_element(By.TAG_NAME, "input").get_attribute("id") == "id_il6"
    assert "outside the accepted range" in block.find_element(By.CSS_SELECTOR,
                                                               ".field-error").text
    assert field(browser, "il6").get_attribute("value") == "-5"
    assert field(browser, "il2").get_attribute("value") == CYTOKINES["il2"]
    assert not browser.find_elements(By.ID, "result")
    screenshot(browser, "prcrs-error-en.png")


def test_the_form_stacks_the_results_on_a_phone(live_server, transactional_db, tiny_models,
                                                browser):
    from selenium.webdriver.common.by import By

    browser.set_window_size(390, 844)
    browser.get(live_server.url + "/en/")
    wait_for_language(browser, "en")
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390  # nothing wider than the phone's screen
    open_panel(browser, 4)
    for key, value in CYTOKINES.items():
        field(browser, key).send_keys(value)
    submit(browser)
    wait_for(browser, "#result")
    cards = browser.find_elements(By.CSS_SELECTOR, ".result-card")
    assert len({card.location["y"] for card in cards}) == 3  # one above the other
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
    screenshot(browser, "prcrs-result-phone-en.png")


def test_a_physician_gives_grade_and_day_sees_the_reference_beside_and_switches_language(
        live_server, transactional_db, tiny_context_models, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(live_server.url + "/en/")
    wait_for_language(browser, "en")
    context = browser.find_element(By.CSS_SELECTOR, "fieldset.context-inputs")
    assert "What you already know" in context.text
    Select(field(browser, "crs_grade")).select_by_value("1")
    field(browser, "day").send_keys("4")
    status = browser.find_element(By.CSS_SELECTOR, ".combination-status")
    assert "the no-lab reference would answer" in status.text  # grade and day, no lab yet
    open_panel(browser, 4)
    for key, value in CYTOKINES.items():
        field(browser, key).send_keys(value)
    submit(browser)
    wait_for(browser, "#result")
    cards = browser.find_elements(By.CSS_SELECTOR, ".result-card")
    assert len(cards) == 3
    for card in cards:
        # Labs + context with its interval, and the no-lab reference beside with its own.
        value = card.find_element(By.CSS_SELECTOR, ".probability-value").text
        assert re.fullmatch(SHOWN_ESTIMATE, value), value
        reference = card.find_element(By.CSS_SELECTOR, ".reference-value").text
        assert re.fullmatch(SHOWN_ESTIMATE, reference), reference
        assert "Without labs" in card.find_element(By.CSS_SELECTOR, ".labs-change").text
        assert "-4-ctx-v1" in card.text and "-0-ctx-v1" in card.text
    screenshot(browser, "prcrs-result-context-en.png")
    assert console_problems(browser) == []

    # Chinese: the grade and the day stay, as do the lab values.
    browser.find_element(By.CSS_SELECTOR, '.language-switch button[value="zh-hans"]').click()
    wait_for_language(browser, "zh-hans")
    assert Select(field(browser, "crs_grade")).first_selected_option.get_attribute("value") == "1"
    assert field(browser, "day").get_attribute("value") == "4"
    assert field(browser, "il6").get_attribute("value") == CYTOKINES["il6"]
    assert "您已掌握的信息" in browser.find_element(By.CSS_SELECTOR, "fieldset.context-inputs").text
    submit(browser)
    wait_for(browser, "#result")
    result = browser.find_element(By.ID, "result").text
    assert "不用实验室指标" in result and "h1-4-ctx-v1" in result
    screenshot(browser, "prcrs-result-context-zh-hans.png")


def test_the_context_result_fits_a_phone(live_server, transactional_db, tiny_context_models,
                                         browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.set_window_size(390, 844)
    browser.get(live_server.url + "/zh-hans/")
    wait_for_language(browser, "zh-hans")
    Select(field(browser, "crs_grade")).select_by_value("2")
    field(browser, "day").send_keys("3")
    open_panel(browser, 4)
    for key, value in CYTOKINES.items():
        field(browser, key).send_keys(value)
    submit(browser)
    wait_for(browser, "#result")
    assert len(browser.find_elements(By.CSS_SELECTOR, ".no-lab-reference")) == 3
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
    screenshot(browser, "prcrs-result-context-phone-zh-hans.png")


def test_the_unit_switch_relabels_the_units_at_once(live_server, transactional_db, tiny_models,
                                                     browser):
    from selenium.webdriver.common.by import By

    browser.get(live_server.url + "/en/")
    wait_for_language(browser, "en")
    open_panel(browser, 3)
    unit = browser.find_element(By.ID, "unit-glucose")
    typical = browser.find_element(By.CSS_SELECTOR, "#about-glucose .field-typical")
    assert (unit.text, typical.text) == ("mmol/L", "Healthy adults: 3.9–6.1")
    browser.find_element(By.CSS_SELECTOR, 'label[for="id_units_1"]').click()  # US conventional
    assert (unit.text, typical.text) == ("mg/dL", "Healthy adults: 70.3–110")
    open_panel(browser, 4)
    assert browser.find_element(By.ID, "unit-il6").text == "pg/mL"  # no US unit: unchanged
    for key, value in CYTOKINES.items():
        field(browser, key).send_keys(value)
    field(browser, "glucose").send_keys("126")
    submit(browser)
    wait_for(browser, "#result")
    assert "Glucose: 126 mg/dL = 6.99 mmol/L" in browser.find_element(By.ID, "result").text
    assert browser.find_element(By.ID, "unit-glucose").text == "mg/dL"  # the server agrees
    browser.find_element(By.CSS_SELECTOR, 'label[for="id_units_0"]').click()  # back to SI
    assert browser.find_element(By.ID, "unit-glucose").text == "mmol/L"
    assert console_problems(browser) == []
