"""m-EASIX and EASIX from the catalogue's values (spec section 11), with where they come from.

Both are published formulas, not models of this site: they are computed exactly as published,
from values in the units the papers use, converted from the catalogue's (CRP mg/L -> mg/dL,
creatinine umol/L -> mg/dL). Read on a log2 scale, as the papers do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

CRP_MG_L_PER_MG_DL = 10.0  # CRP: the catalogue's mg/L / 10 = mg/dL
CREATININE_UMOL_L_PER_MG_DL = 88.42  # creatinine: the catalogue's umol/L / 88.42 = mg/dL


def m_easix(ldh: np.ndarray | float, crp_mg_l: np.ndarray | float,
            platelets: np.ndarray | float) -> np.ndarray | float:
    """LDH [U/L] x CRP [mg/dL] / platelets [10^9/L] (Pennisi et al. 2021)."""
    return ldh * (crp_mg_l / CRP_MG_L_PER_MG_DL) / platelets


def easix(ldh: np.ndarray | float, creatinine_umol_l: np.ndarray | float,
          platelets: np.ndarray | float) -> np.ndarray | float:
    """LDH [U/L] x creatinine [mg/dL] / platelets [10^9/L]."""
    return ldh * (creatinine_umol_l / CREATININE_UMOL_L_PER_MG_DL) / platelets


@dataclass(frozen=True)
class PublishedScore:
    key: str
    name: str  # as published, the same in both languages
    needs: tuple[str, ...]  # catalogue keys, in the formula's order
    formula: Promise
    source: str  # the citation, as published
    population: Promise
    time_point: Promise
    published: Promise  # what the source reported, in words


M_EASIX = PublishedScore(
    key="m_easix", name="m-EASIX", needs=("ldh", "crp", "platelets"),
    formula=_("LDH (U/L) × CRP (mg/dL) / platelets (10⁹/L); CRP in mg/L divided by 10"),
    source="Pennisi M, et al. Modified EASIX predicts severe cytokine release syndrome and "
           "neurotoxicity after chimeric antigen receptor T cells. Blood Adv. "
           "2021;5(17):3397-3406.",
    population=_("118 adults treated with CAR T cells"),
    time_point=_("before lymphodepletion, and on the day before and the day after the infusion"),
    published=_("severe CRS: AUC about 0.80 at lymphodepletion, 0.73 on day −1 and 0.75 on "
                "day +1"))

EASIX = PublishedScore(
    key="easix", name="EASIX", needs=("ldh", "creatinine", "platelets"),
    formula=_("LDH (U/L) × creatinine (mg/dL) / platelets (10⁹/L); creatinine in µmol/L "
              "divided by 88.42"),
    source="Korell F, et al. EASIX and severe endothelial complications after CD19-directed "
           "CAR-T cell therapy: a cohort study. Front Immunol. 2022;13:877477.",
    population=_("adults treated with CD19-directed CAR T cells: 93 from the ZUMA-1 trial, "
                 "validated in 121 from two centres"),
    time_point=_("immediately before lymphodepletion"),
    published=_("grade ≥ 3 CRS and/or neurotoxicity: odds ratio 1.72 per doubling of EASIX"))

PUBLISHED_SCORES = (M_EASIX, EASIX)
FORMULAS = {"m_easix": m_easix, "easix": easix}


@dataclass(frozen=True)
class ScoreValue:
    score: PublishedScore
    value: float
    inputs: tuple[tuple[str, float], ...] = ()  # (key, value) in the catalogue's units

    @property
    def log2(self) -> float | None:
        return math.log2(self.value) if self.value > 0 else None


def bedside_scores(values: Mapping[str, float]) -> tuple[ScoreValue, ...]:
    """Every published score the entered values allow (its three values entered, platelets
    above 0), whatever the panels: the values in the catalogue's units."""
    found = []
    for score in PUBLISHED_SCORES:
        if not all(isinstance(values.get(k), (int, float)) for k in score.needs):
            continue
        ldh, other, platelets = (float(values[k]) for k in score.needs)
        if platelets <= 0 or not all(math.isfinite(v) for v in (ldh, other, platelets)):
            continue  # a count of 0 leaves the ratio undefined
        found.append(ScoreValue(score, float(FORMULAS[score.key](ldh, other, platelets)),
                                tuple(zip(score.needs, (ldh, other, platelets)))))
    return tuple(found)
