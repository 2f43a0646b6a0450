"""The factor catalogue: 42 lab factors in four panels, and the six panel combinations.

This module is the code-side contract of the models (spec section 1 and 2): the order of
``FACTORS`` is the model input order, and ``COMBINATIONS`` is the paper's recommended ranking.
Names, units, help texts and limits are seeded from here into the database by a data migration;
after that an admin may edit texts and limits there, but never the order or panel membership,
because every model file depends on them.

Plausibility limits come from clinical knowledge, not from the training sheet:
- ``hard`` (reject): outside anything a living patient or a lab analyser reports, so the value is
  almost certainly a typo or a unit mistake. CAR-T patients do reach extreme values (ferritin in
  the hundreds of thousands, IL-6 in the tens of thousands, hyperleukocytosis in B-ALL), so the
  hard limits are deliberately wide.
- ``typical`` (accept, but flag): the usual adult reference interval.
Fractions (percentages) are stored 0-1, as the models expect.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class PanelSpec:
    number: int
    key: str
    name_en: str
    name_zh: str


@dataclass(frozen=True)
class FactorSpec:
    key: str
    panel: int
    name_en: str
    name_zh: str
    unit: str  # the unit the models were trained in; the same symbol in both languages
    sheet_column: str
    hard: tuple[float, float]
    typical: tuple[float, float]
    is_fraction: bool = False
    help_en: str = ""
    help_zh: str = ""


@dataclass(frozen=True)
class CombinationSpec:
    code: str  # e.g. "123": the panels it needs
    rank: int  # 1 = most recommended
    name_en: str
    name_zh: str

    @property
    def panels(self) -> tuple[int, ...]:
        return tuple(int(c) for c in self.code)


PANELS: tuple[PanelSpec, ...] = (
    PanelSpec(1, "coagulation", "Coagulation and other indicators", "凝血及其他指标"),
    PanelSpec(2, "blood_routine", "Blood routine", "血常规"),
    PanelSpec(3, "biochemistry", "Biochemistry", "生化指标"),
    PanelSpec(4, "cytokines", "Cytokines", "细胞因子"),
)

_PCT_HELP_EN = "Enter as a percentage (45 or 45% means 45 %)."
_PCT_HELP_ZH = "请按百分比填写（45 或 45% 表示 45%）。"
_F = FactorSpec
FACTORS: tuple[FactorSpec, ...] = (
    # Panel 1: coagulation and others
    _F("d_dimer", 1, "D-dimer", "D-二聚体", "µg/mL", "D-dimer", (0, 200), (0, 0.5)),
    _F("pct", 1, "Procalcitonin (PCT)", "降钙素原", "ng/mL", "Procalcitonin", (0, 1000), (0, 0.5)),
    _F("bnp", 1, "B-type natriuretic peptide (BNP)", "B型尿钠肽", "pg/mL",
       "Type B natriuretic peptide", (0, 50000), (0, 100)),
    _F("hbdh", 1, "α-Hydroxybutyrate dehydrogenase (α-HBDH)", "α-羟丁酸脱氢酶", "U/L",
       "Alpha hydroxybutyrate dehydrogenase", (0, 20000), (72, 182)),
    _F("prealbumin", 1, "Prealbumin", "前白蛋白", "mg/L", "prealbumin", (0, 1000), (200, 400)),
    _F("tumor_burden", 1, "Tumor burden (blast fraction)", "肿瘤负荷（原幼细胞比例）", "%",
       "problast", (0, 1), (0, 0.05), is_fraction=True,
       help_en="Bone-marrow blast percentage. " + _PCT_HELP_EN,
       help_zh="骨髓原幼细胞百分比。" + _PCT_HELP_ZH),
    _F("pt", 1, "Prothrombin time (PT)", "血浆凝血酶原时间", "s", "Plasma prothrombin time",
       (5, 150), (11, 14.5)),
    _F("aptt", 1, "Activated partial thromboplastin time (APTT)", "活化部分凝血活酶时间", "s",
       "Activated partial prothrombin time", (10, 250), (25, 40)),
    _F("fibrinogen", 1, "Fibrinogen", "纤维蛋白原", "g/L", "fibrinogen", (0, 20), (2, 4)),
    # Panel 2: blood routine
    _F("rbc", 2, "Red blood cells", "红细胞", "×10¹²/L", "red blood cell", (0.3, 10), (3.5, 5.5)),
    _F("hemoglobin", 2, "Hemoglobin", "血红蛋白", "g/L", "hemoglobin", (10, 250), (110, 170)),
    _F("wbc", 2, "White blood cells", "白细胞", "×10⁹/L", "leukocyte", (0, 1000), (3.5, 9.5)),
    _F("neutrophil_pct", 2, "Neutrophil percentage", "中性粒细胞百分比", "%",
       "Neutrophil percentage", (0, 1), (0.40, 0.75), is_fraction=True,
       help_en=_PCT_HELP_EN, help_zh=_PCT_HELP_ZH),
    _F("neutrophil_count", 2, "Neutrophil count", "中性粒细胞计数", "×10⁹/L", "Neutrophil count",
       (0, 500), (1.8, 6.3)),
    _F("lymphocyte_pct", 2, "Lymphocyte percentage", "淋巴细胞百分比", "%",
       "Lymphocyte percentage", (0, 1), (0.20, 0.50), is_fraction=True,
       help_en=_PCT_HELP_EN, help_zh=_PCT_HELP_ZH),
    _F("lymphocyte_count", 2, "Lymphocyte count", "淋巴细胞计数", "×10⁹/L", "Lymphocyte count",
       (0, 500), (1.1, 3.2)),
    _F("platelets", 2, "Platelets", "血小板", "×10⁹/L", "platelet", (0, 3000), (125, 350)),
    _F("monocyte_pct", 2, "Monocyte percentage", "单核细胞百分比", "%", "Monocyte percentage",
       (0, 1), (0.03, 0.10), is_fraction=True, help_en=_PCT_HELP_EN, help_zh=_PCT_HELP_ZH),
    _F("monocyte_count", 2, "Monocyte count", "单核细胞计数", "×10⁹/L", "Monocyte count",
       (0, 200), (0.1, 0.6)),
    # Panel 3: biochemistry
    _F("sodium", 3, "Sodium", "钠", "mmol/L", "sodium", (90, 200), (135, 145)),
    _F("potassium", 3, "Potassium", "钾", "mmol/L", "potassium", (1, 10), (3.5, 5.3)),
    _F("chloride", 3, "Chloride", "氯", "mmol/L", "chlorine", (60, 150), (96, 108)),
    _F("calcium", 3, "Calcium", "钙", "mmol/L", "calcium", (0.5, 5), (2.1, 2.6)),
    _F("uric_acid", 3, "Uric acid", "尿酸", "µmol/L", "Uric acid", (0, 2000), (150, 420)),
    _F("glucose", 3, "Glucose", "葡萄糖", "mmol/L", "glucose", (0.5, 60), (3.9, 6.1)),
    _F("triglyceride", 3, "Triglycerides", "甘油三酯", "mmol/L", "triglyceride", (0, 60), (0.3, 1.7)),
    _F("ggt", 3, "γ-Glutamyl transferase (γ-GT)", "γ-谷氨酰转肽酶", "U/L",
       "gamma glutamyl transpeptidase", (0, 5000), (10, 60)),
    _F("albumin", 3, "Albumin", "白蛋白", "g/L", "albumin", (5, 70), (35, 55)),
    _F("alt", 3, "Alanine aminotransferase (ALT)", "谷丙转氨酶", "U/L",
       "Glutamic pyruvic transaminase", (0, 10000), (5, 40)),
    _F("ast", 3, "Aspartate aminotransferase (AST)", "谷草转氨酶", "U/L",
       "Glutamic oxalacetic transaminase", (0, 20000), (8, 40)),
    _F("alp", 3, "Alkaline phosphatase (ALP)", "碱性磷酸酶", "U/L", "Alkaline phosphatase",
       (0, 5000), (40, 150)),
    _F("ldh", 3, "Lactate dehydrogenase (LDH)", "乳酸脱氢酶", "U/L", "Lactate dehydrogenase",
       (0, 50000), (120, 250)),
    _F("creatinine", 3, "Creatinine", "肌酐", "µmol/L", "creatinine", (5, 3000), (45, 110)),
    _F("crp", 3, "C-reactive protein (CRP)", "C反应蛋白", "mg/L", "C-reactive protein",
       (0, 1000), (0, 10)),
    _F("ferritin", 3, "Ferritin", "铁蛋白", "ng/mL", "ferritin", (0, 500000), (20, 400)),
    # Panel 4: cytokines (reference intervals vary by assay; these follow common flow-bead kits)
    _F("il2", 4, "IL-2", "白细胞介素-2 (IL-2)", "pg/mL", "IL2", (0, 200000), (0, 10)),
    _F("il4", 4, "IL-4", "白细胞介素-4 (IL-4)", "pg/mL", "IL4", (0, 200000), (0, 10)),
    _F("il6", 4, "IL-6", "白细胞介素-6 (IL-6)", "pg/mL", "IL6", (0, 200000), (0, 10)),
    _F("il10", 4, "IL-10", "白细胞介素-10 (IL-10)", "pg/mL", "IL10", (0, 200000), (0, 10)),
    _F("tnf_alpha", 4, "TNF-α", "肿瘤坏死因子-α (TNF-α)", "pg/mL", "TNFα", (0, 200000), (0, 10)),
    _F("ifn_gamma", 4, "IFN-γ", "干扰素-γ (IFN-γ)", "pg/mL", "IFNγ", (0, 200000), (0, 15)),
    _F("il17a", 4, "IL-17A", "白细胞介素-17A (IL-17A)", "pg/mL", "IL17A", (0, 200000), (0, 20)),
)

COMBINATIONS: tuple[CombinationSpec, ...] = (
    CombinationSpec("1234", 1, "All four panels", "全部四组指标"),
    CombinationSpec("123", 2, "Coagulation and others, blood routine, biochemistry",
                    "凝血及其他指标、血常规、生化指标"),
    CombinationSpec("4", 3, "Cytokines", "细胞因子"),
    CombinationSpec("23", 4, "Blood routine and biochemistry", "血常规、生化指标"),
    CombinationSpec("3", 5, "Biochemistry", "生化指标"),
    CombinationSpec("2", 6, "Blood routine", "血常规"),
)

HORIZONS: tuple[int, ...] = (1, 2, 3)

# Clinical context (spec sections 4 and 8): what the physician already knows. A model file of
# format version 2 may take these after its lab factors, in the order its manifest declares.
# The site serves one context, both values together: a slot is (horizon, combination, context),
# with context "" (labs only) or CONTEXT_BOTH, and combination "0" (no lab factor at all) is the
# no-lab reference of a horizon.
CONTEXT_KEYS: tuple[str, ...] = ("crs_grade", "day")
CONTEXT_NONE = ""
CONTEXT_BOTH = "+".join(CONTEXT_KEYS)
CONTEXTS: tuple[str, ...] = (CONTEXT_NONE, CONTEXT_BOTH)
REFERENCE_COMBINATION = "0"
CRS_GRADE_RANGE: tuple[int, int] = (0, 4)  # ASTCT grade
DAY_RANGE: tuple[int, int] = (0, 60)  # days since infusion; infusion day = 0

FACTOR_KEYS: tuple[str, ...] = tuple(f.key for f in FACTORS)
FACTORS_BY_KEY: dict[str, FactorSpec] = {f.key: f for f in FACTORS}
COMBINATION_CODES: tuple[str, ...] = tuple(c.code for c in COMBINATIONS)


@cache
def panel_factor_keys(panel: int) -> tuple[str, ...]:
    """Factor keys of one panel, in model input order."""
    return tuple(f.key for f in FACTORS if f.panel == panel)


@cache
def combination_factor_keys(code: str) -> tuple[str, ...]:
    """Factor keys a combination's model takes, in model input order (catalogue order).
    The no-lab reference (combination "0") takes none."""
    panels = {int(c) for c in code}
    return tuple(f.key for f in FACTORS if f.panel in panels)


def combination_width(code: str) -> int:
    return len(combination_factor_keys(code))


def slot_name(horizon: int, combination: str, context: str = CONTEXT_NONE) -> str:
    """The file stem of a slot, e.g. ``h1_c1234`` (labs only), ``h1_c1234_ctx`` (labs and
    context) or ``h1_c0_ctx`` (the no-lab reference)."""
    return f"h{horizon}_c{combination}" + ("_ctx" if context else "")


def slot_label(horizon: int, combination: str, context: str, version: int) -> str:
    """The version name shown to users and returned by the API, e.g. ``h1-1234-v3`` or
    ``h1-1234-ctx-v2``; the no-lab reference is ``h1-0-ctx-v1``."""
    return f"h{horizon}-{combination}" + ("-ctx" if context else "") + f"-v{version}"
