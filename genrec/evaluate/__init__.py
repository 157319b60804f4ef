"""Metrics, evaluator, results tables."""
