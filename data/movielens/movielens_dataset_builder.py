"""MovieLens 100K / 1M as a TFDS dataset: a thin wrapper over genrec.datasets.movielens.

  tfds build data/movielens --config=100k --manual_dir=../shared/data/movielens-100k
(or `python -m genrec.datasets.build ...`, the same command, where the tfds CLI lacks
apache-beam / mlcroissant: see genrec/datasets/build.py)
"""

import os
import sys

try:
    import genrec  # noqa: F401
except ImportError:  # `tfds build data/movielens` from a checkout: the repo root holds genrec/
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from genrec.datasets import movielens, tfds_format  # noqa: E402


class Builder(tfds_format.RecBuilder):
    """Per-user rating sequences and the movie table of MovieLens."""

    BUILDER_CONFIGS = [
        tfds_format.RecConfig(
            name="100k",
            description="MovieLens 100K (u.data, u.item).",
            options={"name": "movielens-100k", "format": "100k"},
        ),
        tfds_format.RecConfig(
            name="1m",
            description="MovieLens 1M (ratings.dat, movies.dat).",
            options={"name": "movielens-1m", "format": "1m"},
        ),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
    Unpack the GroupLens archive (https://grouplens.org/datasets/movielens/) into the manual dir:
    {movielens.EXPECTED}.
    """

    def make_dataset(self, manual_dir):
        options = dict(self.builder_config.options)
        return movielens.load(manual_dir, options.pop("name"), **options)
