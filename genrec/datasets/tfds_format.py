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

from etils import epath
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from genrec.datasets import records

VERSION = tfds.core.Version("1.0.0")
ITEMS_FILE = "items.tfrecord"
COLUMNS = ("ratings", "reviews", "summaries")  # optional per-interaction columns


def user_features() -> tfds.features.FeaturesDict:
    return tfds.features.FeaturesDict({
        "user_index": np.int64,  # position in the dataset's user order (sorted user_id)
        "user_id": tfds.features.Text(),
        "items": tfds.features.Sequence(np.int32),  # our item ids, chronological
        "timestamps": tfds.features.Sequence(np.int64),
        "ratings": tfds.features.Sequence(np.float32),  # empty where the dataset has none
        "reviews": tfds.features.Sequence(tfds.features.Text()),
        "summaries": tfds.features.Sequence(tfds.features.Text()),
    })


def item_features(fields) -> tfds.features.FeaturesDict:
    return tfds.features.FeaturesDict({
        "item_id": np.int64, "source_id": tfds.features.Text(),
        **{f: tfds.features.Text() for f in fields}})


def user_example(index: int, user: records.UserHistory) -> dict:
    return {
        "user_index": index, "user_id": user.user_id, "items": user.items,
        "timestamps": user.timestamps,
        "ratings": np.zeros(0, np.float32) if user.ratings is None else user.ratings,
        "reviews": list(user.reviews or ()), "summaries": list(user.summaries or ()),
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
            writer.write(features.serialize_example(
                {"item_id": i, "source_id": source_id,
                 **{f: values[i] for f, values in items.text.items()}}))


def read_items(path: str, fields) -> records.ItemTable:
    features = item_features(sorted(fields))
    rows = [features.deserialize_example_np(r.numpy()) for r in tf.data.TFRecordDataset(path)]
    if [int(r["item_id"]) for r in rows] != list(range(len(rows))):
        raise ValueError(f"{path}: item ids are not 0..{len(rows) - 1} in order")
    text = lambda v: v.decode("utf-8") if isinstance(v, bytes) else str(v)  # noqa: E731
    return records.ItemTable(
        source_ids=tuple(text(r["source_id"]) for r in rows),
        text={f: tuple(text(r[f]) for r in rows) for f in sorted(fields)})


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
            features=user_features(), metadata=ItemTableMetadata(), disable_shuffling=True,
            homepage="https://github.com/genrec/genrec/blob/main/data/README.md")

    def _split_generators(self, dl_manager):
        manual_dir = os.fspath(dl_manager.manual_dir) if self.MANUAL_DOWNLOAD_INSTRUCTIONS else None
        dataset = self.make_dataset(manual_dir)
        records.check_users(dataset.users, dataset.num_items)
        self.info.metadata.item_table = dataset.items
        self.info.metadata.update({
            "name": dataset.name,
            "item_fields": sorted(dataset.items.text),
            "columns": [c for c in COLUMNS if getattr(dataset.users[0], c) is not None],
            "stats": dataset.stats(),
        })
        return {split: self._generate_examples(dataset, split) for split in records.SPLITS}

    def _generate_examples(self, dataset: records.RecDataset, split: str):
        for index, user in enumerate(dataset.split(split)):
            yield index, user_example(index, user)


def read_dataset(builder: tfds.core.DatasetBuilder) -> records.RecDataset:
    """A prepared builder's `test` split (full histories) + item table → RecDataset."""
    meta = builder.info.metadata
    items = read_items(os.path.join(builder.data_dir, ITEMS_FILE), meta["item_fields"])
    columns = set(meta["columns"])
    users = []
    for ex in tfds.as_numpy(builder.as_dataset(split="test", shuffle_files=False)):
        if ex["user_index"] != len(users):
            raise ValueError(f"{builder.data_dir}: user {len(users)} missing or out of order")
        users.append(records.UserHistory(
            user_id=ex["user_id"].decode("utf-8"),
            items=ex["items"].astype(np.int32),
            timestamps=ex["timestamps"].astype(np.int64),
            ratings=ex["ratings"].astype(np.float32) if "ratings" in columns else None,
            reviews=tuple(t.decode("utf-8") for t in ex["reviews"]) if "reviews" in columns else None,
            summaries=(tuple(t.decode("utf-8") for t in ex["summaries"])
                       if "summaries" in columns else None),
        ))
    return records.RecDataset(name=meta["name"], items=items, users=tuple(users))
