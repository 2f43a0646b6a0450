"""Standard codes for the catalogue (LOINC, UCUM, the site's own code system): plain data that
the FHIR and CDS Hooks adapters and the catalogue API read."""
