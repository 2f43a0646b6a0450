"""The service this site offers an EHR: its discovery entry and prefetch templates."""

from __future__ import annotations

from predictor.interop.codes import CONTEXT_CODES, FACTOR_CODES, INFUSION_CODE, SITE

SERVICE_ID = "prcrs-severe-crs"
HOOK = "patient-view"
# The EHR sends the newest results; the service then keeps the 24 hours up to the newest one.
PREFETCH_COUNT = 500


def observation_codes() -> str:
    """Every listed code as a FHIR token list: ``http://loinc.org|26881-3,...``."""
    codes = [c for table in (FACTOR_CODES, CONTEXT_CODES) for codes in table.values()
             for c in codes]
    return ",".join(f"{c.system}|{c.code}" for c in codes)


def prefetch_templates() -> dict[str, str]:
    return {
        "observations": (f"Observation?patient={{{{context.patientId}}}}&code="
                         f"{observation_codes()}&_sort=-date&_count={PREFETCH_COUNT}"),
        "infusion": f"Procedure?patient={{{{context.patientId}}}}&code={SITE}|{INFUSION_CODE}",
    }


def discovery() -> dict:
    return {"services": [{
        "hook": HOOK,
        "id": SERVICE_ID,
        "title": "PrCRS severe CRS risk",
        "description": "Probability of severe cytokine release syndrome (grade >= 3) 1, 2 and "
                       "3 days ahead for a CAR-T patient, from the latest laboratory results, "
                       "today's CRS grade and the day since infusion. Research use only.",
        "prefetch": prefetch_templates(),
        "usageRequirements": "The EHR signs each request with a JWT (iss, aud = this service's "
                             "URL, exp, jti) whose key the site trusts (PRCRS_CDS_ISSUERS, "
                             "PRCRS_CDS_JWKS_FILE).",
    }]}
