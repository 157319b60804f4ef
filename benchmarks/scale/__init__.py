"""Catalogue-scale benchmarks (issue 30): training step and ranking cost against catalogue size."""
