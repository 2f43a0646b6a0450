"""Entered values: parsing and plausibility checks, clinical context, units and their conversion."""
