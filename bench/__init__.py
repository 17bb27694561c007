"""Benchmarks: ``make bench`` runs them; figures in results.json, explained in RESULTS.md (see report.py)."""
