"""Why this number: the contribution of each entered value to a calibrated probability."""
