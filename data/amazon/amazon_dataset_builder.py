"""Amazon reviews (2014 / 2018 categories) as a TFDS dataset: a thin wrapper over genrec.datasets.amazon.

  tfds build data/amazon --config=beauty_2014 --manual_dir=../shared/data/amazon-2014-beauty \
      --data_dir=~/tensorflow_datasets
(or `python -m genrec.datasets.build ...`, the same command, where the tfds CLI lacks
apache-beam / mlcroissant: see genrec/datasets/build.py)
"""

import os
import sys

try:
    import genrec  # noqa: F401
except ImportError:  # `tfds build data/amazon` from a checkout: the repo root holds genrec/
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from genrec.datasets import amazon, tfds_format  # noqa: E402

_CONFIGS = {  # config → (genrec dataset name, description)
    "beauty_2014": ("amazon-2014-beauty", "Amazon 2014 Beauty 5-core (P5/TIGER benchmark)."),
    "musical_instruments_2014": (
        "amazon-2014-musical-instruments",
        "Amazon 2014 Musical Instruments 5-core, raw review file.",
    ),
    "gift_cards_2018": ("amazon-2018-gift-cards", "Amazon 2018 Gift Cards 5-core + metadata."),
    "magazine_subscriptions_2018": (
        "amazon-2018-magazine-subscriptions",
        "Amazon 2018 Magazine Subscriptions 5-core + metadata.",
    ),
    "custom": ("amazon", "Any Amazon category in one of the supported formats (see README)."),
}


class Builder(tfds_format.RecBuilder):
    """Per-user review sequences and the item table of one Amazon category."""

    BUILDER_CONFIGS = [
        tfds_format.RecConfig(name=config, description=description, options={"name": name})
        for config, (name, description) in _CONFIGS.items()
    ] + [
        tfds_format.RecConfig(
            name="custom_5core",
            options={"name": "amazon", "k_core": 5},
            description="Raw reviews of any category, filtered to the 5-core.",
        )
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
    Put one category's files in the manual dir, in one of these formats:
    {amazon.EXPECTED}.
    2014 files: https://jmcauley.ucsd.edu/data/amazon/ ; 2018: https://nijianmo.github.io/amazon/ .
    ../shared/data/amazon-* hold ready folders (see data/README.md).
    """

    def make_dataset(self, manual_dir):
        options = dict(self.builder_config.options)
        return amazon.load(manual_dir, options.pop("name"), **options)
