"""The course page in headless Chromium: paste a course, see the chart, download the .xlsx and
open it with openpyxl; on a phone-wide window nothing is wider than the screen.

Needs Debian's chromium and chromium-driver (``make system-packages`` installs them).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.conftest import CYTOKINES
from tests.chromium import chromium_options, start_chromium
from tests.required_tools import chromium_problem, requires_tool
from tests.test_browser import (
    console_problems,
    screenshot,
    wait_for,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    requires_tool(chromium_problem()),
]


@pytest.fixture
def downloads(tmp_path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def browser(tmp_path, downloads):
    options = chromium_options(tmp_path)
    # Downloads land in a folder of the test's own, without asking.
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False,
        "download.directory_upgrade": True, "safebrowsing.enabled": True})
    driver = start_chromium(options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    yield driver
    driver.quit()


def course_text() -> str:
    header = "\t".join(["day", "CRS grade", *CYTOKINES, "CRP (mg/L)", "ferritin"])
    lines = [header]
    for day in range(5):
        values = dict(CYTOKINES, il6=str(20 + 60 * day))
        lines.append("\t".join([str(day), str(min(day, 2)), *values.values(), str(8 + 9 * day),
                                str(400 + 350 * day)]))
    return "\n".join(lines) + "\n"


def wait_for_file(folder: Path, suffix: str, timeout: float = 20) -> Path:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done = [p for p in folder.glob(f"*{suffix}")]
        if done and not list(folder.glob("*.crdownload")):
            return done[0]
        time.sleep(0.2)
    raise AssertionError(f"no {suffix} file downloaded into {folder}: {list(folder.iterdir())}")


def paste_and_score(driver, text: str) -> None:
    from selenium.webdriver.common.by import By

    area = driver.find_element(By.ID, "course-text")
    # send_keys would type each character (slow, and tabs move the focus): set the value as a
    # paste would, then submit the form with its button.
    driver.execute_script("arguments[0].value = arguments[1];", area, text)
    driver.find_element(By.CSS_SELECTOR, "form.course-form button.button-primary").click()
    wait_for(driver, "#course-result")


def test_a_physician_pastes_a_course_sees_the_chart_and_downloads_the_xlsx(
        live_server, transactional_db, tiny_context_models, browser, downloads):
    from selenium.webdriver.common.by import By

    browser.get(live_server.url + "/en/")
    browser.find_element(By.CSS_SELECTOR, 'nav.site-nav a[href="/en/course/"]').click()
    wait_for(browser, "form.course-form")
    paste_and_score(browser, course_text())

    chart = browser.find_element(By.CSS_SELECTOR, "#course-result svg.chart-risk")
    assert chart.is_displayed() and chart.size["width"] > 300
    assert "Risk of severe CRS over the days" in chart.get_attribute("innerHTML")
    labs = browser.find_elements(By.CSS_SELECTOR, "#course-result svg.chart-lab")
    assert len(labs) == 5 and all(lab.is_displayed() for lab in labs)
    cells = browser.find_elements(By.CSS_SELECTOR, "#course-result .cell-probability")
    assert len(cells) == 5 * 3 and all(c.text.endswith("%)") for c in cells)
    shown = cells[3].text  # day 1, tomorrow
    screenshot(browser, "prcrs-course-en.png")
    assert console_problems(browser) == []

    browser.find_element(By.CSS_SELECTOR, "#course-result button.download-xlsx").click()
    path = wait_for_file(downloads, ".xlsx")
    rows = list(load_workbook(path).active.iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert [r[header.index("Day")] for r in body] == [0, 1, 2, 3, 4]
    percent = body[1][header.index("Tomorrow: probability (%)")]
    assert shown.startswith(f"{int(percent + 0.5)} %")
    # The inputs that produced each prediction are beside it, with their units.
    assert [r[header.index("IL-6 (pg/mL)")] for r in body] == [20 + 60 * d for d in range(5)]
    assert [r[header.index("Ferritin (ng/mL)")] for r in body] == [400 + 350 * d for d in range(5)]
    # The page is still there after the download, ready for the next one.
    assert browser.find_element(By.CSS_SELECTOR, "#course-result svg.chart-risk")


def test_the_course_fits_a_phone_screen(live_server, transactional_db, tiny_context_models,
                                        browser):
    browser.set_window_size(390, 844)
    browser.get(live_server.url + "/zh-hans/course/")
    wait_for(browser, "form.course-form")
    paste_and_score(browser, course_text())
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
    from selenium.webdriver.common.by import By

    chart = browser.find_element(By.CSS_SELECTOR, "#course-result svg.chart-risk")
    assert chart.size["width"] <= 390 and "重度 CRS" in chart.get_attribute("innerHTML")
    screenshot(browser, "prcrs-course-phone-zh-hans.png")
    assert console_problems(browser) == []


def cohort_text() -> str:
    lines = ["\t".join(["patient", "day", "crs_grade", *CYTOKINES])]
    for i in range(8):
        for day in range(6):
            grade = min(4, day) if i % 2 else (day % 2)
            values = dict(CYTOKINES, il6=str(10 + (i * 37 + day * 91) % 400))
            lines.append("\t".join([f"C{i:02d}", str(day), str(grade), *values.values()]))
    return "\n".join(lines) + "\n"


def test_a_centre_validates_a_cohort_and_opens_a_patient_with_the_buttons(
        live_server, transactional_db, tiny_context_models, browser):
    from selenium.webdriver.common.by import By

    browser.get(live_server.url + "/en/course/")
    wait_for(browser, "form.course-form")
    paste_and_score(browser, cohort_text())
    patients = browser.find_elements(By.CSS_SELECTOR, "#course-result tr[data-patient]")
    assert len(patients) == 8
    browser.find_element(By.CSS_SELECTOR, 'button[name="validate"]').click()
    wait_for(browser, "#course-result.cohort-validation")
    articles = browser.find_elements(By.CSS_SELECTOR, "article.validation-horizon")
    assert [a.get_attribute("data-horizon") for a in articles] == ["1", "2", "3"]
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart-calibration")
    assert "seed 0" in browser.find_element(By.ID, "course-result").text
    screenshot(browser, "prcrs-cohort-validation-en.png")
    browser.find_element(By.CSS_SELECTOR, 'button[name="show"][value="cohort"]').click()
    wait_for(browser, "#course-result.cohort-list")
    browser.find_element(By.CSS_SELECTOR, 'button[name="open_patient"][value="C03"]').click()
    wait_for(browser, "#course-result svg.chart-risk")
    assert "C03" in browser.find_element(By.ID, "course-result-title").text
    assert console_problems(browser) == []
