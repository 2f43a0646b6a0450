"""bench/serving.py (g), the request path, runs for real: wrk against gunicorn on loopback.

Only the plumbing is checked here (both paths answered, a share and a p99 come out, no errors);
the figures themselves are the benchmark's to print, on a machine left alone.
"""

from __future__ import annotations

import math
import os
import shutil

import pytest

from bench.serving import LoopbackSite, print_request_path, request_path, write_tiny_models

@pytest.fixture
def wrk():
    if shutil.which("wrk") is None:
        message = "wrk is not installed (Debian package wrk; make system-packages installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def test_the_request_path_section_measures_the_api_against_the_floor(wrk, tmp_path, capsys):
    write_tiny_models(tmp_path / "bundle")
    site = LoopbackSite(tmp_path, tmp_path / "bundle", workers=1, threads=2, env={
        "PRCRS_RATE_LIMITS": "1", "PRCRS_RATE_LIMIT_PREDICTIONS": str(10**9)})
    with site:
        results = request_path([("here", site)], concurrency=2, seconds=1, rounds=1)

    found = results["here"]
    assert found["floor_rps"] > 0 and found["api_rps"] > 0
    assert 0 < found["share"] < 5
    assert math.isfinite(found["one_p99_ms"]) and found["one_p99_ms"] >= found["one_median_ms"]
    assert found["errors"] == 0
    assert 0 < found["floor_cpu_ms"] < found["api_cpu_ms"]
    print_request_path(results, 2)
    assert "of the floor" in capsys.readouterr().out
