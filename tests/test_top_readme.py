"""The repository README's model figures are the bundled evaluation's, written by code
(predictor/training/top_readme.py), never typed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from predictor.training import top_readme

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_figures_are_those_of_the_bundled_evaluation():
    summary = json.loads((ROOT / "models_store" / "evaluation.json").read_text())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert top_readme.with_figures(readme, summary) == readme, (
        "README.md's figures differ from models_store/evaluation.json: run "
        ".venv/bin/python -m predictor.training.top_readme")


def summary(flags, ctx_auroc=0.92):
    m = {"auroc": 0.9, "auprc": 0.4, "brier": 0.04, "ece": 0.01}
    slot = {"all": {"fam": m}, "new_onset": {"fam": m}, "shipped": "fam"}
    ctx = {f"1_{i}": {"all": {"ctx": dict(m, auroc=ctx_auroc), "reference": m},
                      "new_onset": {"ctx": m, "reference": m}, "shipped": "ctx",
                      "labs_add_information": flag} for i, flag in enumerate(flags)}
    return {"patients": 7, "slots": {k: slot for k in ctx}, "context_slots": ctx}


def test_the_block_counts_the_pairs_whose_labs_beat_the_reference():
    block = top_readme.figures_block(summary([True, False, True]))
    assert "in 2 of the 3 (horizon, combination) pairs" in block
    assert "(7 patients)" in block and "| labs + context | 0.920 |" in block
    assert "rank a little better" in block
    assert "do not rank better" in top_readme.figures_block(summary([False], ctx_auroc=0.8))


def test_a_readme_without_the_markers_is_refused():
    with pytest.raises(ValueError):
        top_readme.with_figures("# no markers here\n", summary([True]))
