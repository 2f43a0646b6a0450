"""Markdown tables for the context models, the no-lab reference and the chloride/sodium
sensitivity (bench/accuracy.py and models_store/README.md)."""

from __future__ import annotations

import numpy as np

from predictor.training.report import fmt, markdown_table, ordered_slots

KINDS = ("labs", "ctx", "ref")
KIND_NAMES = {"labs": "labs only (shipped)", "ctx": "labs + context (shipped)",
              "ref": "no-lab reference (grade + day)"}
METRICS = ("auroc", "auprc", "brier", "ece")
CTX_MAIN = ("ctx_lr", "ctx_lgbm", "ctx_stack", "ctx_net", "ctx_ens", "ctx_ens_logit",
            "ctx_selected_global", "reference")
CTX_SHORT = {"ctx_lr": "LR+ctx", "ctx_lgbm": "LGBM+ctx", "ctx_stack": "Stacked",
             "ctx_net": "PrCRS+ctx", "ctx_ens": "Stack+LGBM",
             "ctx_ens_logit": "Stack+LGBM (log-odds)", "ctx_selected_global": "Nested/global",
             "reference": "Reference"}


def _three(summary, key: str, part: str) -> dict[str, dict]:
    """The three kinds' metrics for one slot key ("1_1234") on ``part`` (all / new_onset)."""
    labs = summary["slots"][key]
    ctx = summary["context_slots"][key]
    return {"labs": labs[part][labs["shipped"]], "ctx": ctx[part][ctx["shipped"]],
            "ref": ctx[part]["reference"]}


def three_kinds_table(summary, part: str = "all") -> str:
    """Per slot, each metric as "labs only / labs + context / reference" (same rows, folds)."""
    rows = []
    for key, _ in ordered_slots(summary):
        if key not in summary.get("context_slots", {}):
            continue
        h, code = key.split("_")
        m = _three(summary, key, part)
        digits = {"brier": 4}
        rows.append([f"h{h} c{code}", f"{m['ref']['n']}/{m['ref']['severe']}"]
                    + [" / ".join(fmt(m[k].get(metric), digits.get(metric, 3)) for k in KINDS)
                       for metric in METRICS]
                    + (["yes" if summary["context_slots"][key].get("labs_add_information")
                        else "**no**"] if part == "all" else []))
    means = kind_means(summary, part)
    rows.append(["**mean**", ""] + [" / ".join(fmt(means[k][metric], 4 if metric == "brier"
                                                   else 3) for k in KINDS)
                                    for metric in METRICS] + ([""] if part == "all" else []))
    return markdown_table(["slot", "rows/severe"] + [f"{m.upper()} labs / ctx / ref" for m in METRICS]
                  + (["labs add information"] if part == "all" else []), rows)


def kind_means(summary, part: str = "all") -> dict[str, dict[str, float]]:
    out = {k: {} for k in KINDS}
    keys = [k for k, _ in ordered_slots(summary) if k in summary.get("context_slots", {})]
    for metric in METRICS:
        for kind in KINDS:
            vals = [_three(summary, key, part)[kind].get(metric) for key in keys]
            vals = [v for v in vals if v is not None and np.isfinite(v)]
            out[kind][metric] = float(np.mean(vals)) if vals else float("nan")
    return out


def kind_summary_table(summary) -> str:
    """Mean over the slots, all rows and new onset, for the three kinds."""
    a, n = kind_means(summary, "all"), kind_means(summary, "new_onset")
    rows = [[KIND_NAMES[k]] + [fmt(a[k][m], 4 if m in ("auroc", "brier") else 3) for m in METRICS]
            + [fmt(n[k][m], 4 if m in ("auroc", "brier") else 3) for m in METRICS] for k in KINDS]
    return markdown_table(["model (mean of slots)", "AUROC", "AUPRC", "Brier", "ECE", "new-onset AUROC",
                   "new-onset AUPRC", "new-onset Brier", "new-onset ECE"], rows)


def context_family_table(summary, metric: str = "auroc", part: str = "all") -> str:
    """Every context family per slot (the family comparison), with the mean row."""
    ctx = summary.get("context_slots", {})
    fams = [f for f in CTX_MAIN if any(f in s[part] for s in ctx.values())]
    rows, cols = [], {f: [] for f in fams}
    for key, _ in ordered_slots(summary):
        if key not in ctx:
            continue
        h, code = key.split("_")
        s = ctx[key]
        cells = []
        for f in fams:
            v = s[part].get(f, {}).get(metric)
            cells.append(fmt(v, 4 if metric == "brier" else 3))
            if v is not None and np.isfinite(v):
                cols[f].append(v)
        rows.append([f"h{h} c{code}"] + cells + ([s.get("shipped", "")] if part == "all" else []))
    rows.append(["**mean**"] + [fmt(float(np.mean(cols[f])) if cols[f] else None,
                                   4 if metric in ("auroc", "brier") else 3) for f in fams]
                + ([""] if part == "all" else []))
    return markdown_table(["slot"] + [CTX_SHORT[f] for f in fams] + (["shipped"] if part == "all" else []),
                  rows)


def reference_table(summary) -> str:
    rows = []
    for h, s in sorted(summary.get("reference_slots", {}).items()):
        a, n = s["all"]["reference"], s["new_onset"]["reference"]
        rows.append([f"h{h} c0", f"{a['n']}/{a['severe']}"]
                    + [fmt(a.get(m), 4 if m == "brier" else 3) for m in METRICS]
                    + [fmt(n.get(m), 4 if m == "brier" else 3) for m in METRICS])
    return markdown_table(["slot", "rows/severe", "AUROC", "AUPRC", "Brier", "ECE", "new-onset AUROC",
                   "new-onset AUPRC", "new-onset Brier", "new-onset ECE"], rows)


def _cells(stats) -> list[str]:
    if not stats or not stats.get("n"):
        return ["–", "–", "–"]
    return [fmt(stats["p50"], 4), fmt(stats["p90"], 4), fmt(stats["max"], 4)]


def sensitivity_table(summary) -> str:
    """|shift| of the predicted (raw) probability when a plausible chloride replaces the sheet's
    value, and when slipped sodium values are multiplied by 10; earlier files vs shipped."""
    sens = summary.get("sensitivity") or {}
    sets = [k for k in ("previous", "shipped") if k in sens] + [k for k in sens if k not in ("previous", "shipped")]
    if not sets:
        return "(no sensitivity run: the evaluation wrote no files)"
    names = sorted(set().union(*(sens[k].keys() for k in sets)),
                   key=lambda n: (n.split("_")[0], n.endswith("_ctx"), -len(n.split("_")[1]),
                                  n.split("_")[1]))
    rows = []
    for name in names:
        cells = []
        for k in sets:
            r = sens[k].get(name)
            cells += _cells(r and r.get("chloride")) + _cells(r and r.get("sodium"))
        if any(c != "–" for c in cells):  # files without chloride or sodium: nothing to show
            rows.append([name] + cells)
    header = ["file"]
    for k in sets:
        header += [f"{k} Cl P50", f"{k} Cl P90", f"{k} Cl max", f"{k} Na P50", f"{k} Na P90",
                   f"{k} Na max"]
    worst = []
    for k in sets:
        p90 = [v[part]["p90"] for v in sens[k].values() for part in ("chloride", "sodium")
               if v.get(part) and v[part].get("n")]
        worst.append(f"{k}: largest P90 {fmt(max(p90) if p90 else None, 4)}")
    return markdown_table(header, rows) + "\n\n" + "; ".join(worst) + " (target < 0.01 for every file)"


def context_report(summary) -> str:
    if "context_slots" not in summary:
        return ""
    fam = summary.get("context_shipped_family", "")
    parts = [
        "## Labs only vs labs + context vs no-lab reference, mean over the slots",
        kind_summary_table(summary),
        f"Shipped context family: {fam}; nested per-fold picks: "
        + ", ".join(summary.get("context_selection_per_fold", [])),
        "## Per slot, all rows (each cell: labs only / labs + context / no-lab reference)",
        three_kinds_table(summary, "all"),
        "## Per slot, new-onset rows (today's grade < 3)",
        three_kinds_table(summary, "new_onset"),
        "## No-lab reference files (combination 0)",
        reference_table(summary),
        "## Context families, AUROC per slot",
        context_family_table(summary, "auroc"),
        "## Context families, Brier per slot",
        context_family_table(summary, "brier"),
        "## Context families, new-onset AUPRC per slot",
        context_family_table(summary, "auprc", "new_onset"),
        "## Chloride / sodium sensitivity (|shift| of the predicted probability)",
        sensitivity_table(summary),
    ]
    return "\n\n".join(parts) + "\n"
