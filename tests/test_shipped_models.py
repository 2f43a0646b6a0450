"""The bundled files in models_store/ (issue 15 items 2 and 4): every context and reference
file records its trained ranges and calibration, its risk never falls as the CRS grade rises on
a grid of grade 0-4 x day 0-60 (at its medians, at every lab's trained minimum and maximum),
a day beyond the trained days answers as the last trained day, and no served probability is
exactly 0 or 1. Real files, loaded as the site loads them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from predictor.model_versions.baselines import parse_baseline_csv
from predictor.scoring.registry import serving_calibration
from predictor.training.export import read_extra_files

STORE = Path(__file__).resolve().parents[1] / "models_store"
CONTEXT_FILES = sorted(STORE.glob("h*_c*_ctx.pt"))
ALL_FILES = sorted(STORE.glob("h*_c*.pt"))
DAYS = list(range(0, 61))


def _load(path: Path):
    extras = read_extra_files(path)
    return (torch.jit.load(str(path), map_location="cpu"), json.loads(extras["manifest.json"]),
            extras["baseline.csv"])


def grade_day_grid(module, labs: list[float], days=DAYS) -> np.ndarray:
    """p[grade, day] of a context module at fixed lab values."""
    rows = [labs + [float(g), float(d)] for g in range(5) for d in days]
    with torch.no_grad():
        p = torch.softmax(module(torch.tensor(rows, dtype=torch.float32)), dim=1)[:, 1]
    return p.numpy().reshape(5, len(days))


def lab_vectors(manifest: dict) -> list[list[float]]:
    """The file's training medians, and every lab at its trained minimum, then maximum."""
    keys = manifest["factor_keys"]
    medians = [float(manifest["medians"][k]) for k in keys]
    ranges = manifest["trained_ranges"]["labs"]
    out = [medians]
    for end in ("min", "max"):
        out.append([float(ranges[k][end]) if k in ranges else medians[j]
                    for j, k in enumerate(keys)])
    return out


def test_all_39_files_are_there():
    assert len(ALL_FILES) == 39 and len(CONTEXT_FILES) == 21


@pytest.mark.parametrize("path", CONTEXT_FILES, ids=lambda p: p.stem)
def test_risk_never_falls_as_the_grade_rises_and_the_day_is_never_extrapolated(path):
    module, manifest, _ = _load(path)
    last = manifest["trained_ranges"]["day"]["max"]
    assert 0 < last < 60
    for labs in lab_vectors(manifest):
        p = grade_day_grid(module, labs)
        assert (np.diff(p, axis=0) >= -1e-6).all(), f"{path.name}: risk falls with the grade"
        assert np.allclose(p[:, last + 1:], p[:, [last]], atol=1e-6), \
            f"{path.name}: the day beyond {last} moves the answer"


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.stem)
def test_every_file_records_its_ranges_and_calibration_and_never_serves_0_or_1(path):
    _, manifest, baseline = _load(path)
    assert manifest["trained_ranges"]["rows"] > 0 and manifest["trained_ranges"]["labs"] \
        or manifest["combination"] == "0"
    assert set(manifest["calibration"]) == {"method", "params"}
    assert baseline.startswith("probability,severe,grade,patient\n")
    calibration = serving_calibration(manifest, parse_baseline_csv(baseline), None)
    found = calibration.lookup_many(np.linspace(0.0, 1.0, 201))
    assert (found.probability > 0).all() and (found.probability < 1).all()
    assert (found.low > 0).all() and (found.high < 1).all()
    if manifest.get("context_keys") and manifest["combination"] != "0":
        assert isinstance(manifest["labs_add_information"], bool)
