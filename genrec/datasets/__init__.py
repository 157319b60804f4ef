"""Prepared datasets: records (the in-memory schema), parsers, synthetic generator, TFDS loading."""
from genrec.datasets.records import ItemTable, RecDataset, UserHistory, SPLITS  # noqa: F401
from genrec.datasets.loading import load  # noqa: F401
