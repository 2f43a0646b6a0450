"""JSON API under /api/v1/: one prediction, a batch, cohort validation, and its URLs."""
