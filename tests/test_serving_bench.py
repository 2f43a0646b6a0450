"""bench/serving.py (g), the request path, runs for real: wrk against gunicorn on loopback.

Only the plumbing is checked here (both paths answered, a share and a p99 come out, no errors);
the figures themselves are the benchmark's to print, on a machine left alone.
"""

from __future__ import annotations

import math
import os
import shutil

import pytest

from bench.request_cost import implied_shares
from bench.serving import (
    LoopbackSite,
    in_process_parts,
    print_request_path,
    request_path,
    write_tiny_models,
)

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


def test_the_request_path_section_says_where_the_api_cpu_goes(tmp_path):
    """bench/request_cost.py in a process of its own, on a site's database and environment."""
    write_tiny_models(tmp_path / "bundle")
    site = LoopbackSite(tmp_path, tmp_path / "bundle", env={
        "PRCRS_RATE_LIMITS": "1", "PRCRS_RATE_LIMIT_PREDICTIONS": str(10**9)})
    site.migrate()
    parts = in_process_parts(site, runs=40)

    assert set(parts) == {"floor", "api", "prediction", "prediction_unexplained"}
    assert all(ms > 0 for ms in parts.values())
    # The whole request costs more than its floor and than the prediction it makes.
    assert parts["api"] > parts["floor"] and parts["api"] > parts["prediction"]


def test_the_implied_shares_take_a_part_off_the_api_server_cpu():
    parts = {"floor": 0.1, "api": 1.0, "prediction": 0.4, "prediction_unexplained": 0.3}
    shares = implied_shares(0.5, 1.5, parts)

    assert shares["measured"] == pytest.approx(0.5 / 1.5)
    assert shares["without_contributions"] == pytest.approx(0.5 / 1.4)
    assert shares["without_prediction"] == pytest.approx(0.5 / 1.1)
    assert shares["without_rest"] == pytest.approx(0.5 / 1.0)  # rest: 1.0 - 0.1 - 0.4
    assert shares["gunicorn_per_request_ms"] == pytest.approx(0.4)
    assert shares["api_budget_ms"] == pytest.approx(1.0)
