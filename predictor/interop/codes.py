"""LOINC codes and UCUM units of every catalogue factor, and the site's own codes for what no
standard code covers (today's CRS grade, the day since infusion, the infusion itself).

Plain data beside ``predictor.catalogue``: a factor may carry several LOINC codes where
laboratories differ (D-dimer in FEU or DDU, glucose by mass or by moles, ferritin with or without
the method). Each code lists the UCUM units it is accepted in; a unit is turned into the
catalogue's unit by ``predictor.inputs.units`` (the same fixed factors as the form and the JSON
API). ``scale`` covers only what that module does not hold: a UCUM prefix the site's units do not
spell (ng/mL of D-dimer = µg/mL / 1000) and the D-dimer DDU -> FEU equivalence (x 2).

``CHECKED`` says where each LOINC code was checked against a public listing (docs/integration.md
has the table); a code missing there it could not be confirmed in a public listing and the
code is offered as the usual one, to be confirmed by the hospital's laboratory.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from predictor.catalogue import FACTOR_KEYS

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
# The site's own code system (no standard code exists for these). A URN, so it never depends on
# where a deployment runs.
SITE = "urn:prcrs:codes"
CRS_GRADE_CODE = "crs-grade"  # today's ASTCT CRS grade, 0-4
DAY_CODE = "day-since-infusion"  # days since the CAR-T infusion, infusion day = 0
INFUSION_CODE = "car-t-infusion"  # a Procedure: the infusion, with its performedDateTime
SEVERE_CRS_CODE = "severe-crs"  # the predicted outcome: CRS grade >= 3
MODEL_VERSIONS = "urn:prcrs:model-versions"  # RiskAssessment.method: served files' version labels


@dataclass(frozen=True)
class UnitMap:
    """One UCUM unit a code is accepted in. ``site_unit``: the spelling
    ``predictor.inputs.units.find_unit`` takes for the factor; ``scale`` multiplies the value
    first (see the module docstring); ``note`` says why, shown in the answer."""

    ucum: str
    site_unit: str
    scale: float = 1.0
    note: str = ""


@dataclass(frozen=True)
class Code:
    code: str
    display: str
    units: tuple[UnitMap, ...]  # the first is the preferred one
    system: str = LOINC

    @property
    def checked(self) -> str:
        """Where this LOINC code was confirmed in a public listing ("" = not confirmed)."""
        return CHECKED.get(self.code, "") if self.system == LOINC else ""


def _u(ucum: str, site: str | None = None, scale: float = 1.0, note: str = "") -> UnitMap:
    return UnitMap(ucum, site if site is not None else ucum, scale, note)


_COUNT_9 = (_u("10*9/L", "10^9/L"), _u("10*3/uL", "10^3/uL"))
_PERCENT = (_u("%"),)
_ENZYME = (_u("U/L"),)
_CYTOKINE = (_u("pg/mL"), _u("ng/L", "pg/mL"))
_DDU = "D-dimer in DDU taken as FEU x 2 (D-dimer units are about half of fibrinogen-equivalent units)"

FACTOR_CODES: dict[str, tuple[Code, ...]] = {
    "d_dimer": (
        Code("48065-7", "Fibrin D-dimer FEU [Mass/volume] in Platelet poor plasma",
             (_u("ug/mL{FEU}", "µg/mL"), _u("mg/L{FEU}", "mg/L"),
              _u("ng/mL{FEU}", "µg/mL", 0.001), _u("ug/mL", "µg/mL"), _u("mg/L"),
              _u("ng/mL", "µg/mL", 0.001))),
        Code("48066-5", "Fibrin D-dimer DDU [Mass/volume] in Platelet poor plasma",
             (_u("ng/mL{DDU}", "µg/mL", 0.002, _DDU), _u("ug/mL{DDU}", "µg/mL", 2.0, _DDU),
              _u("mg/L{DDU}", "mg/L", 2.0, _DDU), _u("ng/mL", "µg/mL", 0.002, _DDU),
              _u("ug/mL", "µg/mL", 2.0, _DDU), _u("mg/L", "mg/L", 2.0, _DDU))),
    ),
    "pct": (Code("33959-8", "Procalcitonin [Mass/volume] in Serum or Plasma",
                 (_u("ng/mL"), _u("ug/L", "ng/mL"))),),
    "bnp": (Code("30934-4", "Natriuretic peptide B [Mass/volume] in Serum or Plasma",
                 (_u("pg/mL"), _u("ng/L", "pg/mL"))),
            Code("42637-9", "Natriuretic peptide B [Mass/volume] in Blood",
                 (_u("pg/mL"), _u("ng/L", "pg/mL")))),
    "hbdh": (Code("hbdh", "alpha-Hydroxybutyrate dehydrogenase [Enzymatic activity/volume] in "
                  "Serum or Plasma", _ENZYME, system=SITE),),
    "prealbumin": (Code("14338-8", "Prealbumin [Mass/volume] in Serum or Plasma",
                        (_u("mg/L"), _u("mg/dL"))),),
    "tumor_burden": (Code("tumor-burden", "Blasts/100 cells in Bone marrow (tumor burden)",
                          _PERCENT, system=SITE),),
    "pt": (Code("5902-2", "Prothrombin time (PT)", (_u("s"),)),),
    "aptt": (Code("3173-2", "aPTT in Blood by Coagulation assay", (_u("s"),)),
             Code("14979-9", "aPTT in Platelet poor plasma by Coagulation assay", (_u("s"),))),
    "fibrinogen": (Code("3255-7", "Fibrinogen [Mass/volume] in Platelet poor plasma by "
                        "Coagulation assay", (_u("g/L"), _u("mg/dL"))),),
    "rbc": (Code("789-8", "Erythrocytes [#/volume] in Blood by Automated count",
                 (_u("10*12/L", "10^12/L"), _u("10*6/uL", "10^6/uL"))),),
    "hemoglobin": (Code("718-7", "Hemoglobin [Mass/volume] in Blood",
                        (_u("g/L"), _u("g/dL"))),),
    "wbc": (Code("6690-2", "Leukocytes [#/volume] in Blood by Automated count", _COUNT_9),
            Code("26464-8", "Leukocytes [#/volume] in Blood", _COUNT_9)),
    "neutrophil_pct": (Code("770-8", "Neutrophils/100 leukocytes in Blood by Automated count",
                            _PERCENT),),
    "neutrophil_count": (Code("751-8", "Neutrophils [#/volume] in Blood by Automated count",
                              _COUNT_9),),
    "lymphocyte_pct": (Code("736-9", "Lymphocytes/100 leukocytes in Blood by Automated count",
                            _PERCENT),),
    "lymphocyte_count": (Code("731-0", "Lymphocytes [#/volume] in Blood by Automated count",
                              _COUNT_9),),
    "platelets": (Code("777-3", "Platelets [#/volume] in Blood by Automated count", _COUNT_9),),
    "monocyte_pct": (Code("5905-5", "Monocytes/100 leukocytes in Blood by Automated count",
                          _PERCENT),),
    "monocyte_count": (Code("742-7", "Monocytes [#/volume] in Blood by Automated count",
                            _COUNT_9),),
    "sodium": (Code("2951-2", "Sodium [Moles/volume] in Serum or Plasma",
                    (_u("mmol/L"), _u("meq/L", "mEq/L"))),),
    "potassium": (Code("2823-3", "Potassium [Moles/volume] in Serum or Plasma",
                       (_u("mmol/L"), _u("meq/L", "mEq/L"))),),
    "chloride": (Code("2075-0", "Chloride [Moles/volume] in Serum or Plasma",
                      (_u("mmol/L"), _u("meq/L", "mEq/L"))),),
    "calcium": (Code("2000-8", "Calcium [Moles/volume] in Serum or Plasma", (_u("mmol/L"),)),
                Code("17861-6", "Calcium [Mass/volume] in Serum or Plasma", (_u("mg/dL"),))),
    "uric_acid": (Code("14933-6", "Urate [Moles/volume] in Serum or Plasma",
                       (_u("umol/L", "µmol/L"),)),
                  Code("3084-1", "Urate [Mass/volume] in Serum or Plasma", (_u("mg/dL"),))),
    "glucose": (Code("14749-6", "Glucose [Moles/volume] in Serum or Plasma", (_u("mmol/L"),)),
                Code("2345-7", "Glucose [Mass/volume] in Serum or Plasma", (_u("mg/dL"),))),
    "triglyceride": (Code("14927-8", "Triglyceride [Moles/volume] in Serum or Plasma",
                          (_u("mmol/L"),)),
                     Code("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma",
                          (_u("mg/dL"),))),
    "ggt": (Code("2324-2", "Gamma glutamyl transferase [Enzymatic activity/volume] in Serum or "
                 "Plasma", _ENZYME),),
    "albumin": (Code("1751-7", "Albumin [Mass/volume] in Serum or Plasma",
                     (_u("g/L"), _u("g/dL"))),),
    "alt": (Code("1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or "
                 "Plasma", _ENZYME),),
    "ast": (Code("1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or "
                 "Plasma", _ENZYME),),
    "alp": (Code("6768-6", "Alkaline phosphatase [Enzymatic activity/volume] in Serum or Plasma",
                 _ENZYME),),
    "ldh": (Code("2532-0", "Lactate dehydrogenase [Enzymatic activity/volume] in Serum or Plasma",
                 _ENZYME),
            Code("14804-9", "Lactate dehydrogenase [Enzymatic activity/volume] in Serum or "
                 "Plasma by Lactate to pyruvate reaction", _ENZYME)),
    "creatinine": (Code("14682-9", "Creatinine [Moles/volume] in Serum or Plasma",
                        (_u("umol/L", "µmol/L"),)),
                   Code("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", (_u("mg/dL"),))),
    "crp": (Code("1988-5", "C reactive protein [Mass/volume] in Serum or Plasma",
                 (_u("mg/L"), _u("mg/dL"))),),
    "ferritin": (Code("2276-4", "Ferritin [Mass/volume] in Serum or Plasma",
                      (_u("ng/mL"), _u("ug/L", "µg/L"))),
                 Code("20567-4", "Ferritin [Mass/volume] in Serum or Plasma by Immunoassay",
                      (_u("ng/mL"), _u("ug/L", "µg/L")))),
    "il2": (Code("33939-0", "Interleukin 2 [Mass/volume] in Serum or Plasma", _CYTOKINE),),
    "il4": (Code("27413-4", "Interleukin 4 [Mass/volume] in Serum or Plasma", _CYTOKINE),),
    "il6": (Code("26881-3", "Interleukin 6 [Mass/volume] in Serum or Plasma", _CYTOKINE),),
    "il10": (Code("26848-2", "Interleukin 10 [Mass/volume] in Serum or Plasma", _CYTOKINE),),
    "tnf_alpha": (Code("3074-2", "Tumor necrosis factor.alpha [Mass/volume] in Serum or Plasma",
                       _CYTOKINE),),
    "ifn_gamma": (Code("27415-9", "Interferon gamma [Mass/volume] in Serum or Plasma",
                       _CYTOKINE),),
    "il17a": (Code("il17a", "Interleukin 17A [Mass/volume] in Serum or Plasma", _CYTOKINE,
                   system=SITE),),
}

CONTEXT_CODES: dict[str, tuple[Code, ...]] = {
    "crs_grade": (Code(CRS_GRADE_CODE, "CRS grade today (ASTCT, 0-4)", (_u("{grade}"),),
                       system=SITE),),
    "day": (Code(DAY_CODE, "Days since CAR-T infusion (infusion day = 0)", (_u("d"),),
                 system=SITE),),
}
INFUSION = Code(INFUSION_CODE, "CAR-T cell infusion (Procedure.performedDateTime)", (),
                system=SITE)

# Where each LOINC code was found, with its meaning, in a public listing: a LOINC term or panel
# page, an HL7 FHIR implementation guide or value set using the code with its LOINC display, or
# a laboratory's test catalogue naming the code for the same test (same analyte, property and
# specimen). Codes not in this table could not be confirmed during development:
# docs/integration.md says so beside each.
_CBC = "https://loinc.org/58410-2/ (LOINC CBC panel: the term with its example UCUM unit)"
_CMP = ("https://ltd.aruplab.com/Tests/Pub/0020408 (ARUP comprehensive metabolic panel, "
        "component LOINC)")
_BMP = "https://www.clinicaldiagnosticlab.com/basic-metabolic-panel (component LOINC)"
# The HL7 CTCAE IG's CBC example: each code with its LOINC long name and unit, instances
# r201-8..13 rendered at https://build.fhir.org/ig/standardhealth/fsh-ae/Observation-r201-N.html
_DIFF = ("github.com/standardhealth/fsh-ae input/fsh/EX_Examplepersona2_CBC201.fsh (HL7 CTCAE "
         "IG CBC example, instance ")
CHECKED: dict[str, str] = {
    "26881-3": "https://labs.northwell.edu/epic/test/1774 (Interleukin-6, LOINC 26881-3)",
    "26848-2": "https://www.healthassure.in/codes/loinc-26848-2-interleukin-10-massvol",
    "3074-2": "https://www.testcatalog.org/show/TNFA (Mayo Clinic Laboratories, result LOINC "
              "3074-2)",
    "33939-0": "https://asantelab.testcatalog.org/show/FIL2M (Interleukin 2, result LOINC "
               "33939-0)",
    "1988-5": "http://testcatalog.org/show/CRP (C-Reactive Protein, result LOINC 1988-5)",
    "2276-4": "https://labcorp.com/test-menu/25286/ferritin-serial-monitor (ferritin ng/mL, "
              "result LOINC 2276-4)",
    "20567-4": "https://testcatalog.org/show/FERR (Ferritin, S, result LOINC 20567-4)",
    "48065-7": "https://www.incytepathology.com/laboratory-services/test-directory/TestDetails/"
               "d-dimer (D-dimer µg/mL, LOINC 48065-7)",
    "26464-8": "https://loinc.org/55429-5/panel (26464-8 Leukocytes [#/volume] in Blood)",
    "6690-2": _CBC, "789-8": _CBC, "718-7": _CBC, "777-3": _CBC,
    "2951-2": _CMP, "2823-3": _CMP, "2075-0": _CMP, "6768-6": _CMP, "1920-8": _CMP,
    "1742-6": _CMP, "2345-7": _CMP,
    "2160-0": _BMP, "17861-6": _BMP,
    "5902-2": "https://ltd.aruplab.com/Tests/Pub/0030215 (ARUP prothrombin time, LOINC 5902-2)",
    "14804-9": "https://mml.testcatalog.org/show/LD (Mayo Clinic Laboratories LDH, result LOINC "
               "14804-9)",
    "3255-7": "https://bjhlab.testcatalog.org/show/4383 (Fibrinogen, Plasma, LOINC 3255-7)",
    "2532-0": "http://www.labcatalog.net/tests/?test=20668 (Labcorp Oklahoma test directory: "
              "Lactate Dehydrogenase (LDH), lactate-pyruvate, serum or lithium-heparin plasma, "
              "LOINC 2532-0)",
    "33959-8": "http://www.labcatalog.net/tests?test=23226 (Labcorp Oklahoma test directory: "
               "Procalcitonin, plasma or serum, LOINC 33959-8)",
    "30934-4": "https://billingscliniclaboratory.testcatalog.org/show/Billings-Clinic-4693 "
               "(B-Type Natriuretic Peptide (BNP), Plasma, pg/mL, LOINC 30934-4)",
    "14979-9": "https://www.machaondiagnostics.com/test/aptt (aPTT, citrated plasma, seconds, "
               "LOINC 14979-9)",
    "3173-2": "https://build.fhir.org/ig/paciowg/sample-data-fsh/branches/"
              "connectathon-january-2026/Observation-betsysmith-johnson01-obs-aptt-coag-panel"
              ".json (LOINC 3173-2 \"aPTT in Blood by Coagulation assay\", 28.5 s)",
    "770-8": "https://hl7.org/fhir/us/core/STU5/Observation-neutrophils.html (US Core example: "
             "LOINC 770-8 \"Neutrophils/100 leukocytes in Blood by Automated count\", %); "
             + _DIFF + "r201-8)",
    "751-8": _DIFF + "r201-9: 751-8 \"Neutrophils [#/volume] in Blood by Automated count\", "
             "10*9/L)",
    "731-0": "https://loinc.org/731-0 (LOINC term: automated absolute lymphocyte count); "
             + _DIFF + "r201-11: 731-0 \"Lymphocytes [#/volume] in Blood by Automated count\", "
             "10*9/L)",
    "736-9": _DIFF + "r201-10: 736-9 \"Lymphocytes/100 leukocytes in Blood by Automated count\", "
             "%)",
    "5905-5": _DIFF + "r201-12: 5905-5 \"Monocytes/100 leukocytes in Blood by Automated count\", "
              "%)",
    "742-7": _DIFF + "r201-13: 742-7 \"Monocytes [#/volume] in Blood by Automated count\", "
             "10*9/L)",
    "1751-7": "https://build.fhir.org/ig/hl7-eu/protect-child/ObservationDefinition-"
              "LabTestExample1.json (LOINC 1751-7 \"Albumin [Mass/volume] in Serum or Plasma\", "
              "g/dL)",
    "14682-9": "https://hl7.org/fhir/uv/cpg/ValueSet-ckd-valueset-creatinine.html (HL7 CPG value "
               "set: 14682-9 \"Creatinine [Moles/volume] in Serum or Plasma\")",
    "2324-2": "https://build.fhir.org/ig/hl7ch/ch-epreg/Observation-UC1-GGT-20250205.json.html "
              "(HL7 Switzerland example: LOINC 2324-2 \"Gamma glutamyl transferase [Enzymatic "
              "activity/volume] in Serum or Plasma\", U/L)",
    "14749-6": "https://hl7.org/fhir/uv/livd/2024Jan/ConceptMap-66a4034b-6cc6-46ed-be83-"
               "343dfc51f2d7.html (HL7 LIVD: mmol/L serum/plasma glucose -> 14749-6 \"Glucose "
               "[Moles/volume] in Serum or Plasma\")",
    "3084-1": "https://github.com/obophenotype/human-phenotype-ontology/issues/3553 (LOINC "
              "3084-1 \"Urate [Mass/volume] in Serum or Plasma\")",
    "2000-8": "github.com/noctiz89/CDE-Katalog input/fsh/C_CommonDataElements/Laboratory/"
              "CDE_calciumInSerumOrPlasmaMoleConcentration.fsh (2000-8 \"Calcium [Moles/volume] in "
              "Serum or Plasma\", umol/L or mmol/L)",
    "14927-8": "github.com/HL7LT/ig-lt-lab input/fsh/profiles/triglycerides-lab-lt.fsh (HL7 "
               "Lithuania profile: 14927-8 \"Triglyceride [Moles/volume] in Serum or Plasma\", "
               "mmol/L)",
    "2571-8": "https://build.fhir.org/observation-example-triglycerides.xml.html (FHIR core "
              "example Observation/triglycerides: LOINC 2571-8, 219 mg/dL)",
}


@dataclass(frozen=True)
class CodeMatch:
    """What a (system, code) pair means for the site: a factor or context key, and the Code."""

    key: str
    code: Code
    is_context: bool


@cache
def code_index() -> dict[tuple[str, str], CodeMatch]:
    """(system, code) -> CodeMatch for every listed code."""
    index: dict[tuple[str, str], CodeMatch] = {}
    for table, is_context in ((FACTOR_CODES, False), (CONTEXT_CODES, True)):
        for key, codes in table.items():
            for code in codes:
                index[(code.system, code.code)] = CodeMatch(key, code, is_context)
    return index


def find_code(system: str | None, code: str | None) -> CodeMatch | None:
    if not system or not code:
        return None
    return code_index().get((system.strip(), code.strip()))


def find_unit_map(code: Code, ucum: str | None, written: str | None) -> UnitMap | None:
    """The UnitMap of ``code`` for a Quantity's UCUM ``code`` (exact, as UCUM is case-sensitive)
    or, without one, for its human-readable ``unit`` (the same text)."""
    for candidate in (ucum, written):
        if candidate:
            for unit in code.units:
                if unit.ucum == candidate.strip():
                    return unit
    return None


def codes_json(codes: tuple[Code, ...]) -> list[dict]:
    """The catalogue API's ``codes`` of one factor or context input: one entry per code and
    UCUM unit, so a client can build Observations from the catalogue alone."""
    out = []
    for code in codes:
        for unit in code.units or (None,):
            entry = {"system": code.system, "code": code.code, "display": code.display,
                     "unit": unit.ucum if unit else None}
            if unit is not None and unit.note:
                entry["note"] = unit.note
            out.append(entry)
    return out


def factor_codes_json(key: str) -> list[dict]:
    return codes_json(FACTOR_CODES.get(key, ()))


def context_codes_json(key: str) -> list[dict]:
    codes = CONTEXT_CODES.get(key, ())
    extra = (INFUSION,) if key == "day" else ()
    return codes_json(codes + extra)


assert set(FACTOR_CODES) == set(FACTOR_KEYS), "every catalogue factor needs its codes"
