"""Measuring-only code: speed, memory and quality benchmarks, one folder per area, each with RESULTS.md.

Run a script from the repository root as a module, e.g. `python -m benchmarks.quality.run --help`;
shared helpers sit beside the areas (`benchmarks/machine.py`);
scripts import each other as `from benchmarks.<area> import <module>`.
"""
