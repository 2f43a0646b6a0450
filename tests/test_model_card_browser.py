"""Issue 16 item 8 in real headless Chromium: every table of a model card (with the manifests
of the bundled files) fits the window at 390 px (a phone) and at 1280 px: no table is wider
than its box, and the page does not scroll sideways. Both languages.
"""

from __future__ import annotations

import pytest

from tests.test_browser import browser  # noqa: F401 - the fixture
from tests.test_browser import pytestmark as BROWSER_MARKS
from tests.test_browser import wait_for
from tests.test_model_card_reading import bundled_like  # noqa: F401 - the fixture

pytestmark = BROWSER_MARKS

OVERFLOW = """
const page = document.documentElement.scrollWidth - document.documentElement.clientWidth;
const tables = [...document.querySelectorAll('article.model-card table')].map(t => {
  const box = t.closest('.table-scroll') || t.parentElement;
  return [t.className, t.scrollWidth - box.clientWidth, box.scrollWidth - box.clientWidth];
});
return [page, tables];
"""


@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_card_tables_fit_the_window(live_server, bundled_like, browser,  # noqa: F811
                                        width, language):
    browser.set_window_size(width, 900)
    for path in ("1/4/context/", "1/4/", "1/0/context/", ""):
        browser.get(f"{live_server.url}/{language}/models/{path}")
        wait_for(browser, "article.model-card table.metrics")
        page, tables = browser.execute_script(OVERFLOW)
        assert page <= 0, (path, "the page scrolls sideways", page)
        assert tables, path
        for name, table_over, box_over in tables:
            assert table_over <= 1 and box_over <= 1, (path, width, name, table_over, box_over)
