"""Shared fixtures: real tiny TorchScript models installed into the real test database."""

from __future__ import annotations

import pytest

from predictor.catalogue import (
    COMBINATION_CODES,
    CONTEXT_BOTH,
    HORIZONS,
    REFERENCE_COMBINATION,
    slot_name,
)
from predictor.live_catalogue import forget_cached_catalogue
from predictor.model_versions.baselines import parse_baseline_csv
from predictor.model_versions.model_files import read_extra_files, read_manifest
from predictor.scoring.registry import REGISTRY
from tests.model_files import tiny_model_bytes
# Tests that need a system tool: skipped locally, failed under CI when it is missing.
from tests.required_tools import pytest_configure, pytest_runtest_setup  # noqa: F401 - hooks

CYTOKINES = {"il2": "3.1", "il4": "2.5", "il6": "48", "il10": "7.2", "tnf_alpha": "4.4",
             "ifn_gamma": "12", "il17a": "6"}


def install_model(horizon: int, combination: str, *, bias: float = 0.0, activate: bool = True,
                  data: bytes | None = None, user=None, context: str = ""):
    """Record a real model file as a version of its slot (and activate it); ``context``
    CONTEXT_BOTH for a labs+context file (or the no-lab reference, combination "0")."""
    from predictor.model_versions.versions import activate as activate_version
    from predictor.model_versions.versions import record_version

    data = data if data is not None else tiny_model_bytes(horizon, combination, bias=bias,
                                                          context=context)
    extras = read_extra_files(data)
    mv = record_version(horizon=horizon, combination=combination, data=data,
                        original_name=f"{slot_name(horizon, combination, context)}.pt",
                        manifest=read_manifest(extras),
                        baseline=parse_baseline_csv(extras["baseline.csv"]), user=user,
                        context=context)
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


@pytest.fixture
def tiny_context_models(tiny_models):
    """Every slot of format version 2 as well: the 18 labs-only files of ``tiny_models``, the
    18 labs+context files and the 3 no-lab references; returns {(h, combo, context): version}."""
    installed = {(h, c, ""): mv for (h, c), mv in tiny_models.items()}
    for h in HORIZONS:
        for c in COMBINATION_CODES:
            installed[(h, c, CONTEXT_BOTH)] = install_model(h, c, bias=0.1 * h + 0.2,
                                                            context=CONTEXT_BOTH)
        installed[(h, REFERENCE_COMBINATION, CONTEXT_BOTH)] = install_model(
            h, REFERENCE_COMBINATION, bias=0.1 * h - 0.3, context=CONTEXT_BOTH)
    return installed
