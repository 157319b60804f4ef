"""The synthetic dataset (deterministic by seed) as a TFDS dataset; needs no raw files.

  tfds build data/synthetic --config=1k
(or `python -m genrec.datasets.build ...`, the same command, where the tfds CLI lacks
apache-beam / mlcroissant: see genrec/datasets/build.py)
"""

import os
import sys

try:
    import genrec  # noqa: F401
except ImportError:  # `tfds build data/synthetic` from a checkout: the repo root holds genrec/
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from genrec.datasets import synthetic, tfds_format  # noqa: E402

_SIZES = {"1k": 1_000, "10k": 10_000, "100k": 100_000, "1m": 1_000_000}


class Builder(tfds_format.RecBuilder):
    """Synthetic Amazon-like catalogue and users (genrec.datasets.synthetic), seed 0."""

    BUILDER_CONFIGS = [
        tfds_format.RecConfig(
            name=size,
            description=f"{n:,} items, {2 * n:,} users, seed 0.",
            options={"name": "synthetic" if size == "1k" else f"synthetic-{size}", "num_items": n, "seed": 0},
        )
        for size, n in _SIZES.items()
    ]

    def make_dataset(self, manual_dir):
        del manual_dir  # generated, no raw files
        return synthetic.generate(**self.builder_config.options)
