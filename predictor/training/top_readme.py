"""The repository README's figures of the bundled models, written from their evaluation.

The block between ``BEGIN`` and ``END`` in README.md is generated here from
``models_store/evaluation.json`` (``manage.py train_models`` rewrites it when it writes the
bundled folder; ``python -m predictor.training.top_readme`` does it alone), so no figure there is
typed by hand; tests/test_top_readme.py fails when the README and the evaluation disagree.

    .venv/bin/python -m predictor.training.top_readme [models_store/evaluation.json] [README.md]
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from predictor.training.report_context import kind_means

BEGIN = "<!-- figures from models_store/evaluation.json: predictor/training/top_readme.py -->"
END = "<!-- end of generated figures -->"
ROOT = Path(__file__).resolve().parents[2]
WIDTH = 99


def figures_block(summary: dict) -> str:
    """The table of mean figures over the slots and the sentence on what the labs add."""
    everything, new_onset = kind_means(summary, "all"), kind_means(summary, "new_onset")
    ctx = summary.get("context_slots") or {}
    flagged = sum(1 for s in ctx.values() if s.get("labs_add_information") is True)
    rows = (("labs only", "labs"), ("no-lab reference (today's grade + day)", "ref"),
            ("labs + context", "ctx"))
    intro = (f"Patient-level 5-fold cross-validation on the public development cohort "
             f"({summary['patients']} patients), mean over the {len(ctx)} slots:")
    lines = [BEGIN, *textwrap.wrap(intro, WIDTH), "",
             "| model | AUROC | Brier | new-onset AUPRC |", "|---|---|---|---|"]
    for name, kind in rows:
        lines.append(f"| {name} | {everything[kind]['auroc']:.3f} | "
                     f"{everything[kind]['brier']:.4f} | {new_onset[kind]['auprc']:.3f} |")
    grade_day = "better" if everything["ref"]["auroc"] > everything["labs"]["auroc"] else "worse"
    ranks = ("rank a little better" if everything["ctx"]["auroc"] > everything["ref"]["auroc"]
             else "do not rank better")
    plainly = (f"Said plainly: **today's CRS grade and the day predict {grade_day} than any lab "
               f"model alone**; on top of them the labs {ranks}, and they are more accurate "
               f"beyond chance (AUROC higher and Brier lower, patient bootstrap) in {flagged} of "
               f"the {len(ctx)} (horizon, combination) pairs. Where they are not, the site leads "
               f"with the reference's probability and says so.")
    lines += ["", *textwrap.wrap(plainly, WIDTH), END]
    return "\n".join(lines)


def with_figures(readme: str, summary: dict) -> str:
    """``readme`` with its generated block replaced (ValueError if the markers are missing)."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ValueError("README.md has no generated-figures block")
    return readme[:start] + figures_block(summary) + readme[end + len(END):]


def update(evaluation: Path = ROOT / "models_store" / "evaluation.json",
           readme: Path = ROOT / "README.md") -> None:
    summary = json.loads(Path(evaluation).read_text(encoding="utf-8"))
    path = Path(readme)
    path.write_text(with_figures(path.read_text(encoding="utf-8"), summary), encoding="utf-8")


if __name__ == "__main__":
    update(*(Path(a) for a in sys.argv[1:3]))
