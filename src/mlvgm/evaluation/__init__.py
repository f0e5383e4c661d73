"""Evaluation: robust accuracy over bounds, reports and figures."""
