"""Issue 15's goals, checked on the development patients from an evaluation summary (patient-
level CV; calibration nested: each fold calibrated on the other folds' out-of-fold rows).

- with context: mean served Brier <= the plain logistic regression on grade + day (its own
  probability, same rows and folds); mean AUROC and new-onset AUPRC >= the no-lab reference's;
- labs only: mean served Brier <= and mean AUROC >= the better of plain logistic regression and
  LightGBM on the same rows (each at its better Brier: own probability or through the windows);
- calibration slope within 0.8-1.2 for every shipped file (nested, through its chosen map).

``goal_checks`` returns the figures and whether each goal holds; ``goals_markdown`` writes them.
"""

from __future__ import annotations

import numpy as np

SLOPE_RANGE = (0.8, 1.2)


def _mean(values) -> float:
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def _best_brier(m: dict) -> float:
    return min(v for v in (m.get("brier"), m.get("brier_raw")) if v is not None)


def goal_checks(summary: dict) -> list[dict]:
    """[{"goal", "ours", "bar", "holds"}] (figures are means over the slots)."""
    checks = []
    labs = summary["slots"]
    keys = sorted(labs)
    fam = summary["shipped_family"]
    lr_auroc, lgbm_auroc = (_mean(labs[k]["all"][f]["auroc"] for k in keys)
                            for f in ("lr", "lgbm"))
    lr_brier, lgbm_brier = (_mean(_best_brier(labs[k]["all"][f]) for k in keys)
                            for f in ("lr", "lgbm"))
    ours_auroc = _mean(labs[k]["all"][fam]["auroc"] for k in keys)
    ours_brier = _mean(labs[k]["all"][fam]["brier"] for k in keys)
    checks.append({"goal": "labs only: mean AUROC >= better of LR, LightGBM",
                   "ours": ours_auroc, "bar": max(lr_auroc, lgbm_auroc),
                   "holds": ours_auroc >= max(lr_auroc, lgbm_auroc)})
    checks.append({"goal": "labs only: mean Brier <= better of LR, LightGBM",
                   "ours": ours_brier, "bar": min(lr_brier, lgbm_brier),
                   "holds": ours_brier <= min(lr_brier, lgbm_brier)})
    ctx = summary.get("context_slots") or {}
    if ctx:
        cfam = summary["context_shipped_family"]
        ref_slots = summary["reference_slots"]
        plain = _mean(ref_slots[k.split("_")[0]]["all"]["plain_lr"]["brier_raw"]
                      for k in sorted(ctx))
        for label, family in (("shipped", cfam), ("nested/global", "ctx_selected_global")):
            brier = _mean(ctx[k]["all"][family]["brier"] for k in sorted(ctx))
            checks.append({"goal": f"with context ({label}): mean Brier <= plain LR on grade + "
                                   "day", "ours": brier, "bar": plain, "holds": brier <= plain})
        # what the physician reads: the reference's number where the file says its labs add
        # nothing (the flag is decided on these same folds, so this row is not nested)
        lead = {k: (cfam if ctx[k].get("labs_add_information") is not False else "reference")
                for k in ctx}
        served = _mean(ctx[k]["all"][lead[k]]["brier"] for k in sorted(ctx))
        checks.append({"goal": "with context (served headline): mean Brier <= plain LR on "
                               "grade + day", "ours": served, "bar": plain,
                       "holds": served <= plain})
        nested = [ctx[k]["served_nested"] for k in sorted(ctx) if "served_nested" in ctx[k]]
        if nested:  # the same, the flag decided per outer fold on the other folds only
            brier = _mean(n["all"]["brier"] for n in nested)
            checks.append({"goal": "with context (served headline, flag nested): mean Brier <= "
                                   "plain LR on grade + day", "ours": brier, "bar": plain,
                           "holds": brier <= plain})
        for metric, part, what in (("auroc", "all", "AUROC"),
                                   ("auprc", "new_onset", "new-onset AUPRC")):
            ref = _mean(ctx[k][part]["reference"][metric] for k in sorted(ctx))
            for label, pick in (("shipped", lambda k: cfam), ("served headline", lead.get)):
                ours = _mean(ctx[k][part][pick(k)][metric] for k in sorted(ctx))
                checks.append({"goal": f"with context ({label}): mean {what} >= no-lab "
                                       "reference", "ours": ours, "bar": ref,
                               "holds": ours >= ref})
            if nested:
                ours = _mean(n[part][metric] for n in nested)
                checks.append({"goal": f"with context (served headline, flag nested): mean "
                                       f"{what} >= no-lab reference", "ours": ours, "bar": ref,
                               "holds": ours >= ref})
    for kind, choice in (summary.get("calibration") or {}).items():
        slopes = {name: m["all"]["slope"] for name, m in choice["per_slot"].items()}
        outside = sorted(n for n, s in slopes.items() if not SLOPE_RANGE[0] <= s <= SLOPE_RANGE[1])
        # Which of those are miscalibrated beyond chance: the slope's 95 % interval (patient
        # bootstrap) misses the whole 0.8-1.2 band, not only the point.
        intervals = {name: m["all"].get("slope_ci") for name, m in choice["per_slot"].items()}
        beyond = sorted(n for n in outside if intervals.get(n) and _misses_band(intervals[n]))
        checks.append({"goal": f"calibration slope 0.8-1.2, every {kind} file "
                               f"({choice['method']})",
                       "ours": min(slopes.values()), "bar": max(slopes.values()),
                       "holds": not outside, "outside": outside,
                       "outside_detail": {n: (slopes[n], intervals.get(n)) for n in outside},
                       "beyond_chance": beyond if all(intervals.values()) else None})
    return checks


def _misses_band(interval) -> bool:
    low, high = interval
    return bool(np.isfinite(low) and np.isfinite(high)
                and (high < SLOPE_RANGE[0] or low > SLOPE_RANGE[1]))


def slope_figure(slope: float) -> str:
    """A slope with two decimals, or three where two would put a slope outside the band on its
    edge ("1.20" for 1.204 reads as inside)."""
    two = f"{slope:.2f}"
    if not SLOPE_RANGE[0] <= slope <= SLOPE_RANGE[1] and float(two) in SLOPE_RANGE:
        return f"{slope:.3f}"
    return two


def _outside_text(check: dict) -> str:
    """`` (outside: h1_c3 0.62 [0.41-0.95], ...; beyond chance: none)``."""
    if not check.get("outside"):
        return ""
    parts = []
    for name in check["outside"]:
        slope, interval = check.get("outside_detail", {}).get(name, (None, None))
        if slope is None:
            parts.append(name)
        elif interval:
            parts.append(f"{name} {slope_figure(slope)} [{interval[0]:.2f}-{interval[1]:.2f}]")
        else:
            parts.append(f"{name} {slope_figure(slope)}")
    text = f" (outside: {', '.join(parts)}"
    if check.get("beyond_chance") is not None:
        text += f"; 95 % interval misses 0.8-1.2: {', '.join(check['beyond_chance']) or 'none'}"
    return text + ")"


def goals_markdown(summary: dict) -> str:
    lines = ["| goal | ours | bar | holds |", "|---|---|---|---|"]
    for c in goal_checks(summary):
        if c["goal"].startswith("calibration slope"):
            ours, bar = f"min {c['ours']:.2f}", f"max {c['bar']:.2f}"
            extra = _outside_text(c)
        else:
            digits = 4 if "Brier" in c["goal"] else 3
            ours, bar, extra = f"{c['ours']:.{digits}f}", f"{c['bar']:.{digits}f}", ""
        lines.append(f"| {c['goal']} | {ours} | {bar} | {'yes' if c['holds'] else '**no**'}"
                     f"{extra} |")
    return "\n".join(lines) + "\n"


def calibration_markdown(summary: dict) -> str:
    """Per kind of shipped file, the nested comparison of the calibration methods (means over
    the family's slots; all rows and new onset) and the method chosen."""
    out = []
    for kind, choice in (summary.get("calibration") or {}).items():
        out.append(f"**{kind}** (chosen: `{choice['method']}`)\n")
        out.append("| method | log loss | Brier | ECE | slope | intercept | new-onset log loss "
                   "| new-onset Brier | new-onset ECE | new-onset slope |")
        out.append("|---|---|---|---|---|---|---|---|---|---|")
        for method, t in choice["table"].items():
            a, n = t["all"], t["new_onset"]
            out.append(f"| {method} | {a['log_loss']:.4f} | {a['brier']:.4f} | {a['ece']:.4f} | "
                       f"{a['slope']:.2f} | {a['intercept']:.2f} | {n['log_loss']:.4f} | "
                       f"{n['brier']:.4f} | {n['ece']:.4f} | {n['slope']:.2f} |")
        out.append("")
    return "\n".join(out) + "\n"
