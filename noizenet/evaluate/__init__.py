"""Evaluation: metrics over generated pieces, the report, plots, comparing runs."""
