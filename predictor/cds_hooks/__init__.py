"""CDS Hooks (spec section 12): discovery, the ``patient-view`` hook, its JWT authentication,
the query of the EHR's FHIR server and the cards. Plain functions; ``views`` adapts HTTP."""
