"""FHIR R4 in and out (spec section 12): Observations in a Bundle -> the site's prediction ->
a RiskAssessment, refusals as OperationOutcome. Plain functions here; ``views`` adapts HTTP.

Resources are read and built with ``fhir.resources`` (its R4B models: FHIR 4.3, which keeps R4's
Bundle, Observation, Procedure, RiskAssessment, OperationOutcome and CapabilityStatement as they
were in 4.0.1)."""
