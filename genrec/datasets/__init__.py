"""Prepared datasets: records (the in-memory schema), parsers, synthetic generator, TFDS loading."""

from genrec.datasets.loading import load  # noqa: F401
from genrec.datasets.records import SPLITS, ItemTable, RecDataset, UserHistory  # noqa: F401
