"""Scoring: combination choice, loaded models, one prediction or a batch, calibration, the log."""
