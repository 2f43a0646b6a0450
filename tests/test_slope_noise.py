"""The chance that a calibrated file shows a slope inside 0.8-1.2 (predictor.training.slope_noise)
and the bench that prints it for model files (bench/accuracy.py --slope-noise)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from predictor.training.slope_noise import chance_inside_band, summarise_chances
from tests.model_files import tiny_model_bytes

ROOT = Path(__file__).resolve().parents[1]


def risks(patients: int, days: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Spread-out risks around 6 % (the sheet's base rate), ``days`` rows per patient."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-3.0, 1.2, patients * days)
    return 1.0 / (1.0 + np.exp(-z)), np.repeat(np.arange(patients), days)


def test_many_severe_days_make_a_calibrated_file_pass_almost_always():
    p, patient = risks(1500, 6, seed=1)  # ~700 severe days
    assert chance_inside_band(p, patient) > 0.95


def test_few_severe_days_make_a_calibrated_file_fail_often():
    p, patient = risks(40, 4, seed=2)  # ~10 severe days
    assert chance_inside_band(p, patient) < 0.6


def test_a_wider_band_is_passed_more_often_and_the_seed_fixes_the_answer():
    p, patient = risks(120, 5, seed=3)
    narrow = chance_inside_band(p, patient, band=(0.9, 1.1))
    wide = chance_inside_band(p, patient, band=(0.5, 1.5))
    assert narrow < wide
    assert chance_inside_band(p, patient) == chance_inside_band(p, patient)


def test_no_risk_at_all_gives_no_answer_rather_than_a_guess():
    assert math.isnan(chance_inside_band(np.full(50, 1e-9), np.arange(50), resamples=20))
    with pytest.raises(ValueError):
        chance_inside_band([0.1, 0.2], [1])


def test_summary_counts_files_expected_outside_and_the_chance_all_pass():
    summary = summarise_chances([0.9, 0.5, float("nan")])
    assert summary.expected_outside == pytest.approx(0.6)
    assert summary.all_inside == pytest.approx(0.45)


def baseline_with_patients(seed: int, patients: int = 150, days: int = 4) -> str:
    p, patient = risks(patients, days, seed)
    y = np.random.default_rng(seed + 100).random(len(p)) < p
    lines = ["probability,severe,patient"]
    lines += [f"{q:.6f},{int(s)},{pid}" for q, s, pid in zip(p, y, patient)]
    return "\n".join(lines) + "\n"


def test_bench_prints_each_file_and_the_count_expected_by_chance(tmp_path):
    for horizon, combination, context in ((1, "4", ""), (1, "2", ""), (1, "4", "ctx")):
        name = f"h{horizon}_c{combination}{'_ctx' if context else ''}.pt"
        (tmp_path / name).write_bytes(tiny_model_bytes(
            horizon, combination, context=context,
            manifest_extra={"calibration": {"method": "identity", "params": {}}},
            baseline=baseline_with_patients(seed=horizon * 10 + len(name))))
    # A file whose baseline says nothing of patients is named and skipped, not guessed.
    (tmp_path / "h2_c3.pt").write_bytes(tiny_model_bytes(2, "3"))
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "accuracy.py"), "--slope-noise",
                           str(tmp_path)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    rows = {line.split()[0]: line for line in lines if line.startswith("h")}
    assert set(rows) == {"h1_c4", "h1_c2", "h1_c4_ctx", "h2_c3"}
    assert "skipped" in rows["h2_c3"]
    assert "identity" in rows["h1_c4"]
    summary = {line.split(":")[0].strip(): line for line in lines if "expected outside" in line}
    assert set(summary) == {"labs only", "context"}
    assert " of 2 outside" in summary["labs only"]
    assert " of 1 outside" in summary["context"]


def test_bench_refuses_a_folder_without_model_files(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "accuracy.py"), "--slope-noise",
                           str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2
    assert "no model files" in done.stderr
