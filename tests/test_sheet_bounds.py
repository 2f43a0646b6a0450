"""Hostile sheets against the real server (gunicorn, DJANGO_DEBUG=0, one worker): every file of
bench/hostile_sheets.py posted to the three ways in (the course page, the batch API, the
validation API) is refused with a clear 4xx, fast, and the worker never holds 512 MiB.

Before: a 2.5 MB .xlsx of a million sparse rows held a worker ~50 s, one cell at row 1,048,576
~30 s, a million shared strings ~11 s; values beyond column 128 were never read.
"""

from __future__ import annotations

import html
import json
import re
import time

import pytest

from bench.hostile_sheets import hostile_files
from bench.http_forms import csrf_token, multipart, peak_rss_mib
from bench.serving import LoopbackSite, write_tiny_models

pytestmark = pytest.mark.slow

SECONDS = 5.0  # each refusal; the ceiling for any request is 10 s
MEMORY_MIB = 512
NAMES = ["sparse_million_rows", "cell_at_row_1048576", "cell_at_row_1048576_lying_dimension",
         "million_shared_strings", "million_shared_strings_undeclared",
         "values_beyond_column_128", "entity_expansion_sheet", "entity_expansion_strings",
         "external_entity", "zip_bomb", "csv_blank_lines", "csv_utf16_no_bom", "csv_utf32",
         "csv_latin1_garbage", "csv_invalid_utf8", "csv_nul_bytes", "csv_control_chars",
         "one_cell_written_again", "rows_out_of_order", "unreadable_cell_reference",
         "duplicate_zip_parts"]
CLEAR = {  # a word of the refusal, in English, per file
    "sparse_million_rows": "row", "cell_at_row_1048576": "row",
    "cell_at_row_1048576_lying_dimension": "row", "million_shared_strings": "texts",
    "million_shared_strings_undeclared": "texts", "values_beyond_column_128": "column",
    "entity_expansion_sheet": "DTD", "entity_expansion_strings": "DTD",
    "external_entity": "DTD", "zip_bomb": "zip bomb", "csv_blank_lines": "rows",
    "one_cell_written_again": "two values in one cell", "rows_out_of_order": "out of order",
    "unreadable_cell_reference": "ZZZZZ2", "duplicate_zip_parts": "damaged",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    work = tmp_path_factory.mktemp("sheet-bounds")
    write_tiny_models(work / "bundle")
    with LoopbackSite(work, work / "bundle", workers=1, threads=2,
                      env={"GUNICORN_ACCESS_LOG": ""}) as server:
        yield server


@pytest.fixture(scope="module")
def files():
    built = hostile_files()
    assert sorted(built) == sorted(NAMES)  # every file is tested
    return built


def _post(site, path, body, content_type, cookie=None):
    conn = site.connection(timeout=60)
    headers = {"Content-Type": content_type}
    if cookie:
        headers["Cookie"] = f"csrftoken={cookie}"
    started = time.perf_counter()
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace"), \
            time.perf_counter() - started
    finally:
        conn.close()


def _ways_in(site, filename, data):
    conn = site.connection()
    token = csrf_token(conn, "/en/course/")
    conn.close()
    body, kind = multipart({"csrfmiddlewaretoken": token, "action": "score"},
                           {"file": (filename, data)})
    yield "course page", _post(site, "/en/course/", body, kind, token)
    body, kind = multipart({"horizon": "all"}, {"sheet": (filename, data)})
    yield "batch API", _post(site, "/api/v1/predict/batch?lang=en", body, kind)
    yield "validation API", _post(site, "/api/v1/validate?lang=en", body, kind)


@pytest.mark.parametrize("name", NAMES)
def test_a_hostile_sheet_is_refused_fast_and_clearly_everywhere(site, files, name):
    filename, data = files[name]
    for way, (status, text, seconds) in _ways_in(site, filename, data):
        assert 400 <= status < 500, (way, status, text[:500])
        assert seconds < SECONDS, (way, seconds)
        if way != "course page":
            message = " ".join(json.loads(text)["errors"]["sheet"])
        else:
            found = re.search(r'id="sheet-problems".*?</ul>', text, re.S)
            assert found, (way, text[:500])
            message = html.unescape(found.group(0))
        assert CLEAR.get(name, "") in message, (way, message[:500])
    [worker] = site.worker_pids()
    assert peak_rss_mib(worker) < MEMORY_MIB


def test_headers_the_api_will_refuse_anyway_get_415_through_the_wsgi_guard(site):
    for content_type in ("text/plain; charset*=xyz''a", "text/plain; charset=utf-16",
                         "application/x-www-form-urlencoded; charset=latin-1",
                         "text/csv; charset=base64"):
        status, text, _seconds = _post(site, "/api/v1/predict?lang=en", b"x=1", content_type)
        assert status == 415, (content_type, status, text)
    status, _text, _seconds = _post(site, "/api/v1/predict?lang=en", b"{}",
                                    "application/json; charset*=utf-8'en'x")
    assert status == 400
