"""Courses and cohorts: scoring a sheet's rows, local validation of a cohort, the charts."""
