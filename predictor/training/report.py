"""Plain-text / Markdown tables of an evaluation summary (bench/accuracy.py, the model card)."""

from __future__ import annotations

import math

import numpy as np

MAIN = ("net_pre", "net", "ens_pre", "ens", "ens3", "lr", "lgbm", "ens_trees", "ens_trees_logit",
        "grade", "grade_day", "selected", "selected_global")
SHORT = {"net_pre": "PrCRS pre", "net": "PrCRS", "ens_pre": "Ens pre", "ens": "Ens", "ens3": "Ens3",
         "lr": "LR", "lgbm": "LGBM", "ens_trees": "LR+LGBM", "ens_trees_logit": "LR+LGBM (log-odds)",
         "grade": "Grade", "grade_day": "Grade+day",
         "selected": "Nested/slot", "selected_global": "Nested/global"}


def fmt(v, digits=3) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def markdown_table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def ordered_slots(summary):
    return sorted(summary["slots"].items(),
                  key=lambda kv: (int(kv[0].split("_")[0]), -len(kv[0].split("_")[1]),
                                  kv[0].split("_")[1]))


def family_means(summary, part="all", metric="auroc") -> dict:
    out = {}
    for fam in MAIN:
        vals = [s[part][fam][metric] for _, s in ordered_slots(summary)
                if fam in s.get(part, {}) and metric in s[part][fam]]
        vals = [v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
        if vals:
            out[fam] = float(np.mean(vals))
    return out


def metric_table(summary, metric="auroc", part="all") -> str:
    fams = [f for f in MAIN if any(f in s.get(part, {}) for _, s in ordered_slots(summary))]
    rows = []
    for key, s in ordered_slots(summary):
        h, code = key.split("_")
        first = s[part][fams[0]]
        rows.append([f"h{h} c{code}", f"{first['n']}/{first['severe']}"]
                    + [fmt(s[part][f].get(metric)) if f in s[part] else "–" for f in fams]
                    + ([s.get("shipped", "")] if part == "all" else []))
    means = family_means(summary, part, metric)
    rows.append(["**mean**", ""] + [fmt(means.get(f)) for f in fams] + ([""] if part == "all" else []))
    return markdown_table(["slot", "rows/severe"] + [SHORT[f] for f in fams]
                  + (["shipped"] if part == "all" else []), rows)


def row_level_table(summary) -> str:
    fams = ("net", "lr", "lgbm")
    rows = []
    for key, s in ordered_slots(summary):
        if "row_level" not in s:
            continue
        h, code = key.split("_")
        rows.append([f"h{h} c{code}"] + [
            f"{fmt(s['row_level'][f]['auroc'])} vs {fmt(s['all'][f]['auroc'])}"
            if f in s["row_level"] else "–" for f in fams])
    if not rows:
        return "(row-level protocol not run)"
    cells = []
    for f in fams:  # means over the slots where the family ran the row-level protocol
        both = [(s["row_level"][f]["auroc"], s["all"][f]["auroc"]) for _, s in ordered_slots(summary)
                if f in s.get("row_level", {})]
        cells.append(f"{fmt(float(np.mean([a for a, _ in both])))} vs "
                     f"{fmt(float(np.mean([b for _, b in both])))} ({len(both)} slots)"
                     if both else "–")
    rows.append(["**mean**"] + cells)
    return markdown_table(["slot"] + [f"{SHORT[f]} AUROC row-level vs patient-level" for f in fams], rows)


def summary_table(summary) -> str:
    """Mean over slots of every metric, per family (patient-level and new-onset)."""
    rows = []
    for fam in MAIN:
        vals = []
        for part in ("all",):
            for metric in ("auroc", "auprc", "brier", "ece", "sensitivity", "specificity"):
                vals.append(fmt(family_means(summary, part, metric).get(fam),
                               4 if metric in ("auroc", "brier") else 3))
        vals.append(fmt(family_means(summary, "new_onset", "auroc").get(fam)))
        vals.append(fmt(family_means(summary, "new_onset", "auprc").get(fam)))
        rows.append([SHORT[fam]] + vals)
    return markdown_table(["model (mean of slots)", "AUROC", "AUPRC", "Brier", "ECE", "Sens", "Spec",
                   "new-onset AUROC", "new-onset AUPRC"], rows)


def full_report(summary) -> str:
    parts = [
        "## Patient-level 5-fold CV, mean over slots",
        summary_table(summary),
        "## AUROC per slot (patient-level CV; raw probability)",
        metric_table(summary, "auroc"),
        "## Brier per slot (actual probability after the baseline conversion)",
        metric_table(summary, "brier"),
        "## ECE per slot (actual probability)",
        metric_table(summary, "ece"),
        "## AUPRC per slot",
        metric_table(summary, "auprc"),
        "## Sensitivity / specificity per slot (threshold fixed on training folds)",
        metric_table(summary, "sensitivity"),
        metric_table(summary, "specificity"),
        "## New-onset subset (today's grade < 3): AUROC per slot",
        metric_table(summary, "auroc", part="new_onset"),
        "## Row-level protocol (paper: random patient-day split) vs patient-level, AUROC",
        row_level_table(summary),
    ]
    t = summary.get("timings")
    if t:
        parts.append("Timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in t.items()))
    return "\n\n".join(parts) + "\n"
