"""The prepared-dataset layout in TFDS, shared by the builders in data/ and by `loading`.

Splits `train` / `validation` / `test` hold one example per user: the sequence visible at that split
(train = all but the last 2 interactions, validation = all but the last 1, test = the full history),
in user order (shuffling disabled). The item table is a side file next to the splits,
`items.tfrecord` (tf.train.Examples in the `item_features` schema), and `metadata.json` says which
columns and item fields the dataset has. data/README.md documents the schema.
"""

from __future__ import annotations

import abc
import dataclasses
import inspect
import os
from typing import Optional

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from etils import epath

from genrec.datasets import records

VERSION = tfds.core.Version("1.0.0")
ITEMS_FILE = "items.tfrecord"
COLUMNS = ("ratings", "reviews", "summaries")  # optional per-interaction columns


def user_features() -> tfds.features.FeaturesDict:
    return tfds.features.FeaturesDict(
        {
            "user_index": np.int64,  # position in the dataset's user order (sorted user_id)
            "user_id": tfds.features.Text(),
            "items": tfds.features.Sequence(np.int32),  # our item ids, chronological
            "timestamps": tfds.features.Sequence(np.int64),
            "ratings": tfds.features.Sequence(np.float32),  # empty where the dataset has none
            "reviews": tfds.features.Sequence(tfds.features.Text()),
            "summaries": tfds.features.Sequence(tfds.features.Text()),
        }
    )


def item_features(fields) -> tfds.features.FeaturesDict:
    return tfds.features.FeaturesDict(
        {"item_id": np.int64, "source_id": tfds.features.Text(), **{f: tfds.features.Text() for f in fields}}
    )


def user_example(index: int, user: records.UserHistory) -> dict:
    return {
        "user_index": index,
        "user_id": user.user_id,
        "items": user.items,
        "timestamps": user.timestamps,
        "ratings": np.zeros(0, np.float32) if user.ratings is None else user.ratings,
        "reviews": list(user.reviews or ()),
        "summaries": list(user.summaries or ()),
    }


class ItemTableMetadata(tfds.core.MetadataDict):
    """metadata.json (columns, item fields, stats) plus the item table in items.tfrecord."""

    def __init__(self, item_table: Optional[records.ItemTable] = None, **kwargs):
        super().__init__(**kwargs)
        self.item_table = item_table

    def save_metadata(self, data_dir):
        super().save_metadata(data_dir)
        if self.item_table is not None:
            write_items(os.path.join(data_dir, ITEMS_FILE), self.item_table)


def write_items(path: str, items: records.ItemTable) -> None:
    features = item_features(sorted(items.text))
    with tf.io.TFRecordWriter(path) as writer:
        for i, source_id in enumerate(items.source_ids):
            writer.write(
                features.serialize_example(
                    {
                        "item_id": i,
                        "source_id": source_id,
                        **{f: values[i] for f, values in items.text.items()},
                    }
                )
            )


def read_items(path: str, fields, batch_size: int = 65536) -> records.ItemTable:
    """items.tfrecord → ItemTable, parsed in batches (the schema of `item_features`)."""
    string = tf.io.FixedLenFeature([], tf.string)
    spec = {
        "item_id": tf.io.FixedLenFeature([], tf.int64),
        "source_id": string,
        **{f: string for f in fields},
    }
    columns = {name: [] for name in spec}
    for batch in tf.data.TFRecordDataset(path).batch(batch_size):
        for name, values in tf.io.parse_example(batch, spec).items():
            columns[name].append(values.numpy())
    columns = {name: np.concatenate(v) if v else np.zeros(0) for name, v in columns.items()}
    if not np.array_equal(columns["item_id"], np.arange(len(columns["item_id"]))):
        raise ValueError(f"{path}: item ids are not 0..{len(columns['item_id']) - 1} in order")
    return records.ItemTable(
        source_ids=_text(columns["source_id"]), text={f: _text(columns[f]) for f in sorted(fields)}
    )


@dataclasses.dataclass(eq=False)
class RecConfig(tfds.core.BuilderConfig):
    """A known variant; `options` are passed to the builder's parser (format, k_core, sizes...)."""

    options: dict = dataclasses.field(default_factory=dict)


class RecBuilder(tfds.core.GeneratorBasedBuilder, abc.ABC):
    """Base of the builders in data/: subclasses only say how to make the RecDataset."""

    VERSION = VERSION
    RELEASE_NOTES = {"1.0.0": "Per-user examples, leave-one-out splits, item table side file."}

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        # The builder's file. (TFDS 4.9.10's own lookup needs importlib_resources, a package it
        # declares only for Python < 3.9, so it fails for builders outside tensorflow_datasets.)
        return epath.Path(inspect.getfile(cls))

    @abc.abstractmethod
    def make_dataset(self, manual_dir: Optional[str]) -> records.RecDataset:
        """Parses the raw files in `manual_dir` (a thin call into genrec.datasets)."""

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=user_features(), metadata=ItemTableMetadata(), disable_shuffling=True
        )

    def _split_generators(self, dl_manager):
        manual_dir = os.fspath(dl_manager.manual_dir) if self.MANUAL_DOWNLOAD_INSTRUCTIONS else None
        dataset = self.make_dataset(manual_dir)
        records.check_users(dataset.users, dataset.num_items)
        self.info.metadata.item_table = dataset.items
        self.info.metadata.update(
            {
                "name": dataset.name,
                "item_fields": sorted(dataset.items.text),
                "columns": [c for c in COLUMNS if getattr(dataset.users[0], c) is not None],
                "stats": dataset.stats(),
            }
        )
        return {split: self._generate_examples(dataset, split) for split in records.SPLITS}

    def _generate_examples(self, dataset: records.RecDataset, split: str):
        for index, user in enumerate(dataset.split(split)):
            yield index, user_example(index, user)


def read_dataset(builder: tfds.core.DatasetBuilder, batch_size: int = 4096) -> records.RecDataset:
    """A prepared builder's `test` split (full histories) + item table → RecDataset."""
    meta = builder.info.metadata
    items = read_items(os.path.join(builder.data_dir, ITEMS_FILE), meta["item_fields"])
    columns = set(meta["columns"])
    users = []
    split = builder.as_dataset(split="test", shuffle_files=False).ragged_batch(batch_size)
    for batch in split:
        index = batch["user_index"].numpy()
        if not np.array_equal(index, np.arange(len(users), len(users) + len(index))):
            raise ValueError(f"{builder.data_dir}: users missing or out of order near {len(users)}")
        rows = {name: _rows(batch[name]) for name in ("items", "timestamps", *columns)}
        for j, user_id in enumerate(batch["user_id"].numpy()):
            users.append(
                records.UserHistory(
                    user_id=user_id.decode("utf-8"),
                    items=rows["items"][j].astype(np.int32),
                    timestamps=rows["timestamps"][j].astype(np.int64),
                    ratings=rows["ratings"][j].astype(np.float32) if "ratings" in columns else None,
                    reviews=_text(rows["reviews"][j]) if "reviews" in columns else None,
                    summaries=_text(rows["summaries"][j]) if "summaries" in columns else None,
                )
            )
    return records.RecDataset(name=meta["name"], items=items, users=tuple(users))


def _rows(ragged: tf.RaggedTensor) -> list[np.ndarray]:
    return np.split(ragged.values.numpy(), ragged.row_splits.numpy()[1:-1])


def _text(values: np.ndarray) -> tuple[str, ...]:
    return tuple(v.decode("utf-8") for v in values)
