"""Sweeps: a base experiment × a grid of gin overrides → one run per point → one report.

python -m genrec.sweep.run --sweep=configs/experiments/sweep_model_sizes.gin --sweep_dir=sweeps/sizes
python -m genrec.sweep.report --sweep_dir=sweeps/sizes
"""
