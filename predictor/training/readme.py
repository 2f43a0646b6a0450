"""models_store/README.md, written from the evaluation summary by the pipeline (``train_models``)
or again from a saved evaluation.json (``write_readme``): every figure in it comes from code."""

from __future__ import annotations

import json
from pathlib import Path

from predictor.training.goals import calibration_markdown, goals_markdown
from predictor.training.report import full_report
from predictor.training.report_context import context_report

HEADER = """# PrCRS default models (models_store/)

Written by `predictor.training.readme` from `evaluation.json` (run by `manage.py train_models`);
do not edit by hand. {n_files} TorchScript files, three per (horizon, combination) slot kind, for
horizons 1, 2, 3 (days ahead):

| file | input | what it is |
|---|---|---|
| `h{{h}}_c{{code}}.pt` | the combination's lab values | labs only (format version 1) |
| `h{{h}}_c{{code}}_ctx.pt` | the lab values, then today's CRS grade and the day since infusion | labs + clinical context (format version 2) |
| `h{{h}}_c0_ctx.pt` | today's CRS grade and the day since infusion | the no-lab reference (format version 2) |

They predict severe CRS (grade >= 3) on day d+h from day d. **Research use only; not a
substitute for clinical judgement.** Total size: {size}.

Retrain with ({minutes} on this machine for the run behind these files):

```sh
.venv/bin/python manage.py train_models --cart ../shared/data/prcrs-public/CAR-T.xlsx \\
  --covid ../shared/data/prcrs-public/COVID-19.xlsx --out models_store/ --no-row-protocol{network_flag}
```
{network_note}"""

CONTRACT = """## What is in a file (the contract)

- `forward(x)`: `x` float32 `[B, n]` (labs only) or `[B, n + 2]` (context files; `n` = 0 for the
  reference): RAW values in catalogue units and order (`predictor/catalogue.py`), only the
  combination's factors; fractions 0-1; then, in context files, `crs_grade` (0-4) and `day` in
  the order of `context_keys`. Output float32 `[B, 2]` logits; `softmax(...)[:, 1]` is the raw
  probability of severe CRS. Normalisation, the training medians for a NaN lab, the chloride
  pin and the day clamp are inside the module.
- Extra file `manifest.json`: format version, horizon, combination, factor keys, medians,
  training data, model type, metrics (`patient_cv`, `patient_cv_new_onset`, ...), and
  - `trained_ranges`: the rows, each lab's min/max, and (context files) the CRS grades with
    their patient-days and the days since infusion the file was trained on;
  - `calibration`: `{"method", "params"}`, the map from raw score to probability chosen for this
    kind of file (nested patient-level CV, `predictor.training.calibration_choice`);
  - labs + context files: `labs_add_information` (criterion below);
  - panel-3 files: `unused_factor_keys: ["chloride"]` and `unused_factor_note`.
- Extra file `baseline.csv`: `probability,severe,grade,patient`: the out-of-fold raw
  probabilities of the 5-fold patient-level CV with the true label, that day's CRS grade and an
  anonymous patient number (order of first appearance; no identifier), so intervals can
  resample patients.
"""

POLICY = """## No extrapolation, risk never falls as the grade rises

- The day: every context file (and the reference) clamps the day to the last day it was trained
  on (`trained_ranges.day.max`); the site does the same for any file whose manifest records it,
  and every answer beyond that day says it was answered as that day (API `warnings` /
  `range_warnings`, result page, course page and its downloads, model card).
- The grade: the linear families fit the grade as non-negative steps (grade >= 1, >= 2, ...) and
  LightGBM carries a monotone constraint on the grade, so for any labs and day the probability
  never falls as the grade rises (tested on a grid of grade 0-4 x day 0-60 for every shipped
  context and reference file, `tests/test_shipped_models.py`). A grade with fewer than
  `SPARSE_GRADE_ROWS` training patient-days (`predictor/scoring/trained_ranges.py`) is flagged
  in the answer with its count.
- The no-lab reference is defined once (`predictor/no_lab_reference.py`): {reference}.
"""


def _files_note(out_dir: Path) -> tuple[int, str]:
    files = sorted(out_dir.glob("*.pt"))
    size = sum(f.stat().st_size for f in files)
    return len(files), f"{size / 1e6:.1f} MB ({len(files)} files)"


def _cleaning(summary: dict) -> str:
    rows = [c for c in summary.get("cleaning") or [] if c["rows"]]
    lines = ["## Training data cleaning", "",
             f"{summary.get('patient_days', '?')} patient-days; the rules that changed rows "
             "(all rules, in order, in `docs/training-data.md`): a value the site would refuse "
             "is never learned from.", "", "| rule | what | patient-days |", "|---|---|---|"]
    lines += [f"| `{c['rule']}` | {c['what']} | {c['rows']} |" for c in rows]
    return "\n".join(lines) + "\n"


def _models(summary: dict) -> str:
    families = summary.get("families", {})
    ctx_names = summary.get("context_families", {})
    ctx = summary.get("context_slots", {})
    no = sorted(k for k, s in ctx.items() if s.get("labs_add_information") is False)
    lines = [
        "## What the models are", "",
        f"- Labs only: **`{summary['shipped_family']}`** "
        f"({families.get(summary['shipped_family'], '')}): the family with the best mean "
        "patient-level AUROC (ties: lower Brier) among those that fit the serving budget.",
    ]
    if ctx:
        fam = summary["context_shipped_family"]
        lines.append(f"- Labs + context: **`{fam}`** ({ctx_names.get(fam, '')}), by the same "
                     "rule among the small families; nested per-fold picks: "
                     + ", ".join(summary.get("context_selection_per_fold", [])) + ".")
        lines.append(f"- No-lab reference: {ctx_names.get('reference', '')}.")
        lines.append(
            "- `labs_add_information`, on the family that ships and its served (calibrated) "
            "probability: true when it beats the no-lab reference on the same rows and folds in "
            "AUROC (higher) AND in Brier beyond chance (the 95 % interval of the paired Brier "
            "difference, patient bootstrap, lies below 0; `predictor/training/served_headline.py`"
            ", which says why a lower Brier by any margin was not kept). False for "
            f"{len(no)} of {len(ctx)} slots"
            + (": " + ", ".join("h" + k.replace("_", " c") for k in no) if no else "")
            + "; there the site leads with the no-lab reference's probability and says so (the "
              "labs + context number stays in the API as `with_labs`). A file without the flag "
              "makes no claim either way.")
    calibration = summary.get("calibration") or {}
    if calibration:
        lines.append("- Calibration chosen per kind of file (rule: lowest mean nested log loss, "
                      "Brier as tie-break): " + ", ".join(
                          f"{k} `{v['method']}`" for k, v in calibration.items()) + ".")
    return "\n".join(lines) + "\n"


def models_readme(summary: dict, out_dir: Path) -> str:
    from predictor import no_lab_reference

    n_files, size = _files_note(out_dir)
    minutes = (summary.get("timings") or {}).get("total_s", 0) / 60
    skipped = not (summary.get("recipe") or {}).get("labs_network", True)
    note = ("\nThe PrCRS network families (never shipped: over the serving budget of one "
            "gunicorn worker) were not re-evaluated in this run (`--no-network`); the shipped "
            "families, the shipping rules and every figure of a shipped file do not depend on "
            "them. Their figures are in the earlier releases' evaluations.\n") if skipped else ""
    parts = [HEADER.format(n_files=n_files, size=size, minutes=_duration(minutes),
                           network_flag=" \\\n  --no-network" if skipped else "",
                           network_note=note), CONTRACT,
             _cleaning(summary), _models(summary),
             POLICY.format(reference=no_lab_reference.FAMILY)]
    if summary.get("calibration"):
        parts += ["## Calibration methods compared (nested, patient-level; means over slots)\n",
                  calibration_markdown(summary),
                  "## Goals on the development patients (patient-level CV)\n",
                  GOALS_NOTE, goals_markdown(summary)]
    parts += [context_report(summary), "# Labs-only families\n", full_report(summary)]
    return "\n".join(parts)


GOALS_NOTE = """\
- *shipped*: the labs + context family's own figures;
- *served headline*: what the page leads with, the no-lab reference where a file's
  `labs_add_information` is false; that flag is decided on the same five folds, so this row is
  optimistic;
- *served headline, flag nested*: the same with the flag decided for each outer fold on the
  other four folds only, the held-out fold answered by whichever leads there: the honest figure;
- calibration slopes: each file's slope (nested, through its map) with its 95 % interval by
  patient bootstrap; a slope outside 0.8-1.2 whose interval still reaches the band may be chance
  on a few dozen severe days, one whose interval misses the band is miscalibrated.
"""


def _duration(minutes: float) -> str:
    if minutes < 1.5:
        return "about a minute" if minutes >= 0.5 else "under a minute"
    return f"about {minutes:.0f} minutes"


def write_readme(summary: dict, out_dir: Path) -> Path:
    path = Path(out_dir) / "README.md"
    path.write_text(models_readme(summary, Path(out_dir)), encoding="utf-8")
    return path


def write_readme_from(evaluation_json: Path) -> Path:
    """Rewrite README.md beside a saved evaluation.json (same folder as the model files)."""
    path = Path(evaluation_json)
    return write_readme(json.loads(path.read_text()), path.parent)
