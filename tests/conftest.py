"""Shared fixtures: real tiny TorchScript models installed into the real test database."""

from __future__ import annotations

import pytest

from predictor.catalogue import COMBINATION_CODES, HORIZONS
from predictor.model_files import read_extra_files, read_manifest
from predictor.baselines import parse_baseline_csv
from predictor.live_catalogue import forget_cached_catalogue
from predictor.registry import REGISTRY
from tests.model_files import tiny_model_bytes

CYTOKINES = {"il2": "3.1", "il4": "2.5", "il6": "48", "il10": "7.2", "tnf_alpha": "4.4",
             "ifn_gamma": "12", "il17a": "6"}


def install_model(horizon: int, combination: str, *, bias: float = 0.0, activate: bool = True,
                  data: bytes | None = None, user=None):
    """Record a real model file as a version of its slot (and activate it)."""
    from predictor.versions import activate as activate_version
    from predictor.versions import record_version

    data = data if data is not None else tiny_model_bytes(horizon, combination, bias=bias)
    extras = read_extra_files(data)
    mv = record_version(horizon=horizon, combination=combination, data=data,
                        original_name=f"h{horizon}_c{combination}.pt",
                        manifest=read_manifest(extras),
                        baseline=parse_baseline_csv(extras["baseline.csv"]), user=user)
    if activate:
        activate_version(mv, user=user)
    return mv


@pytest.fixture(autouse=True)
def _fresh_registry():
    """Each test starts with no loaded models: the database is rolled back between tests."""
    REGISTRY.reset()
    forget_cached_catalogue()
    yield
    REGISTRY.reset()
    forget_cached_catalogue()


@pytest.fixture
def tiny_models(db):
    """All 18 slots served by tiny real TorchScript models; returns {(h, combo): version}."""
    return {(h, c): install_model(h, c, bias=0.1 * h) for h in HORIZONS for c in COMBINATION_CODES}
