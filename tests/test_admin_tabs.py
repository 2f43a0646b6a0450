"""Language tabs on the catalogue admin: the site's own script, no jQuery UI, nothing from a CDN.

The page itself keeps one labelled field per language (what users without JavaScript see); the
script in static/admin/prcrs/ groups them under tabs named in each language's own name. The
browser test needs Debian's chromium and chromium-driver (``make system-packages``); its
screenshot goes to the system temp directory as admin-tabs.png for a human to look at.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from predictor.models import Factor
from tests.required_tools import chromium_problem, requires_tool
from tests.test_browser import (  # noqa: F401 - browser is a fixture
    browser, console_problems, wait_for,
)

SCRIPT = "admin/prcrs/translation_tabs.js"
STYLES = "admin/prcrs/translation_tabs.css"
_EXTERNAL = re.compile(r"""(?:src|href)=["'](?:https?:)?//""", re.I)


def change_url(factor: Factor, language: str = "en") -> str:
    return f"/{language}/admin/predictor/factor/{factor.pk}/change/"


def change_page(user, language: str = "en") -> str:
    client = Client()
    client.force_login(user)
    factor = Factor.objects.order_by("position").first()
    response = client.get(change_url(factor, language))
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_the_factor_change_page_loads_the_tab_script_and_styles_from_this_site(admin_user):
    html = change_page(admin_user)
    static = "/" + settings.STATIC_URL.strip("/") + "/"
    assert f'<script src="{static}{SCRIPT}"></script>' in html
    assert f'<link href="{static}{STYLES}" media="all" rel="stylesheet">' in html
    assert not _EXTERNAL.search(html)
    assert "jquery-ui" not in html.lower() and "tabbed_translation_fields" not in html


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_each_language_keeps_its_own_labelled_field_with_the_language_name_for_the_tab(
        admin_user, language):
    """Without the script nothing is hidden; the script reads the tab labels off the widgets."""
    html = change_page(admin_user, language)
    for field in ("name", "unit", "help_text"):
        for suffix, name in (("zh_hans", "简体中文"), ("en", "English")):
            code = suffix.replace("_", "-")
            widget = re.search(rf'<input [^>]*name="{field}_{suffix}"[^>]*>', html).group(0)
            assert f'data-mt-field="{field}"' in widget
            assert f'data-mt-language="{code}"' in widget
            assert f'data-mt-language-name="{name}"' in widget
            assert re.search(rf'<label[^>]*for="id_{field}_{suffix}">[^<]*\[{code}\]:', html)
    assert " hidden" not in re.search(r'<div class="form-row[^"]*field-name_en', html).group(0)
    label = "名称" if language == "zh-hans" else "Name"
    assert f'data-mt-field-label="{label}"' in html


@pytest.mark.django_db
def test_the_other_catalogue_admins_use_the_same_tabs(admin_user):
    from django.contrib import admin

    from predictor.models import Combination, Panel

    for model in (Panel, Combination, Factor):
        media = str(admin.site._registry[model].media)
        assert SCRIPT in media and STYLES in media and "//" not in media


# --- in a real browser ---------------------------------------------------------------------------

def log_in(driver, live_server, user) -> None:
    """The session of a test client login: axes wants a request on authenticate()."""
    client = Client()
    client.force_login(user)
    driver.get(live_server.url + "/static/" + STYLES)  # a page of the site, to set its cookie
    driver.add_cookie({"name": settings.SESSION_COOKIE_NAME, "path": "/",
                       "value": client.cookies[settings.SESSION_COOKIE_NAME].value})


def open_first_factor(browser, live_server, admin_user):
    """Logged in, on the first factor's change page once its tabs are drawn: (factor, the
    first tab strip)."""
    log_in(browser, live_server, admin_user)
    factor = Factor.objects.order_by("position").first()
    browser.get(live_server.url + change_url(factor))
    return factor, wait_for(browser, ".mt-tab-strip")


def in_chromium(test):
    """A browser test against the live server (committed data; serialized_rollback brings back
    the seeded catalogue), which needs Chromium."""
    for mark in (pytest.mark.browser,
                 pytest.mark.django_db(transaction=True, serialized_rollback=True),
                 requires_tool(chromium_problem())):
        test = mark(test)
    return test


def page_problems(driver) -> list[str]:
    """Console errors (CSP refusals, script errors, failed loads) but the favicon the admin
    does not link and the browser asks for anyway."""
    return [message for message in console_problems(driver) if "/favicon.ico" not in message]


@in_chromium
def test_an_admin_switches_a_factor_between_the_chinese_and_english_tabs(
        live_server, admin_user, browser):  # noqa: F811 - the fixture imported above
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    factor, strip = open_first_factor(browser, live_server, admin_user)
    name_tabs = browser.find_elements(
        By.CSS_SELECTOR, '.mt-tab-strip[aria-label="Name"] [role="tab"]')
    assert [tab.text for tab in name_tabs] == ["简体中文", "English"]
    assert strip.get_attribute("role") == "tablist"
    assert len(browser.find_elements(By.CSS_SELECTOR, ".mt-tab-strip")) == 3  # name, unit, help

    chinese = browser.find_element(By.ID, "id_name_zh_hans")
    english = browser.find_element(By.ID, "id_name_en")
    # The first language shows by default.
    assert name_tabs[0].get_attribute("aria-selected") == "true"
    assert chinese.is_displayed() and not english.is_displayed()

    name_tabs[1].click()
    assert name_tabs[1].get_attribute("aria-selected") == "true"
    assert name_tabs[0].get_attribute("aria-selected") == "false"
    assert english.is_displayed() and not chinese.is_displayed()
    assert english.get_attribute("value") == factor.name_en
    # Each field has its own tabs: the unit still shows Chinese.
    assert browser.find_element(By.ID, "id_unit_zh_hans").is_displayed()

    # Keyboard: the selected tab is the one in the tab order; arrows move between languages.
    assert name_tabs[1].get_attribute("tabindex") == "0"
    assert name_tabs[0].get_attribute("tabindex") == "-1"
    name_tabs[1].send_keys(Keys.ARROW_LEFT)
    assert browser.switch_to.active_element == name_tabs[0]
    assert chinese.is_displayed() and not english.is_displayed()
    name_tabs[0].send_keys(Keys.ARROW_RIGHT)
    assert english.is_displayed()

    width = browser.get_window_size()["width"]
    browser.set_window_size(width, 1400)
    browser.save_screenshot(str(Path(tempfile.gettempdir()) / "admin-tabs.png"))
    assert page_problems(browser) == []


@in_chromium
def test_a_tab_with_a_validation_error_is_shown_first(
        live_server, admin_user, browser):  # noqa: F811 - the fixture imported above
    from selenium.webdriver.common.by import By

    open_first_factor(browser, live_server, admin_user)
    # Too long for the English name (max 120): only the server can refuse it.
    english = browser.find_element(By.ID, "id_name_en")
    browser.execute_script("arguments[0].removeAttribute('maxlength'); arguments[0].value = "
                           "'x'.repeat(200)", english)
    browser.find_element(By.CSS_SELECTOR, 'input[name="_continue"]').click()
    wait_for(browser, ".errornote")
    tabs = browser.find_elements(By.CSS_SELECTOR, '.mt-tab-strip[aria-label="Name"] [role="tab"]')
    assert tabs[1].get_attribute("aria-selected") == "true"
    assert "has-error" in tabs[1].get_attribute("class")
    assert browser.find_element(By.ID, "id_name_en").is_displayed()
    assert not browser.find_element(By.ID, "id_name_zh_hans").is_displayed()
    assert page_problems(browser) == []
