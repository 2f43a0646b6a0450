"""Hot swap under load: gunicorn with 3 workers on loopback, a version activated (then rolled
back) from another process on the same database; every worker follows within a second and no
request fails. Runs bench/hot_swap.py's scenario; bounded to about a minute."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "hot_swap.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("prcrs_bench_hot_swap", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_every_worker_serves_the_new_version_within_a_second_with_no_failed_request():
    result = load_bench().run_hot_swap(workers=3, clients=8, before=0.5, after=2.0)

    assert result["failures"] == 0, result["failure_kinds"]
    assert result["workers_seen"] == 3
    for name in ("activation", "rollback"):
        switch = result[name]
        assert switch["time_to_full_switch_s"] <= 1.0, switch
        assert switch["old_version_after_full_switch"] == 0
        assert switch["responses_after_full_switch"] > 50
        assert len(switch["per_worker"]) == 3, switch  # each worker answered with the new one
        for figures in switch["per_worker"].values():
            assert figures["new_responses"] > 0
            assert figures.get("last_old_sent_s", 0) <= 1.0
