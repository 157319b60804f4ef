"""The item-sequence seqio Task and the feature converter of models that see one position per item.

Task `genrec_<dataset>_item_sequences`: one example per user and window, feature `targets` = the
user's training-split items as tokens (item i = i + 1, no EOS). A history longer than a window is
cut into windows of `window` items that overlap by one, so every (history -> next item) pair of the
training split is a target exactly once per epoch, its history the window's earlier items.

`ItemSequenceConverter` packs those examples with seqio's `LMFeatureConverter` (inputs = targets
shifted right per segment, 0 = begin-of-sequence) and adds each position's identifier digits from
the code table: `decoder_input_codes` and `decoder_target_codes` [T, M] (see
genrec/model/parallel_ids.py).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Optional

import numpy as np
import seqio
import tensorflow as tf

from genrec.datasets.records import RecDataset
from genrec.tasks import registry


def task_name(dataset_name: str) -> str:
    return f"{registry.PREFIX}{registry.slug(dataset_name)}_item_sequences"


def windows(items: np.ndarray, window: int) -> list[np.ndarray]:
    """`items` cut into pieces of at most `window` items, consecutive pieces sharing one item, newest
    piece last: each item after the first is a target of exactly one piece."""
    if len(items) <= window:
        return [items]
    starts = list(range(len(items) - window, 0, -(window - 1)))[::-1]  # every start is > 0
    return [items[: starts[0] + 1]] + [items[s : s + window] for s in starts]


def training_sequences(dataset: RecDataset, window: int) -> list[np.ndarray]:
    out = []
    for user in dataset.split("train"):
        out += [w for w in windows(np.asarray(user.items, np.int32), window) if len(w) >= 2]
    return out


def register(dataset: RecDataset, window: int) -> str:
    """Registers (or replaces) the dataset's item-sequence Task; returns its name."""
    name = task_name(dataset.name)
    sequences = training_sequences(dataset, window)
    lengths = np.array([len(s) for s in sequences], np.int64)
    values = np.concatenate(sequences) + 1 if sequences else np.zeros(0, np.int32)

    def dataset_fn(split: str, shuffle_files: bool, seed: Optional[int] = None) -> tf.data.Dataset:
        ragged = tf.RaggedTensor.from_row_lengths(values.astype(np.int32), lengths)
        ds = tf.data.Dataset.from_tensor_slices({"targets": ragged})
        if shuffle_files:
            ds = ds.shuffle(max(1, len(sequences)), seed=seed, reshuffle_each_iteration=True)
        return ds

    seqio.TaskRegistry.remove(name)
    seqio.TaskRegistry.add(
        name,
        source=seqio.FunctionDataSource(
            dataset_fn, splits=("train",), num_input_examples={"train": len(sequences)}
        ),
        output_features={
            "targets": seqio.Feature(
                seqio.PassThroughVocabulary(dataset.num_items + 1), add_eos=False, dtype=tf.int32
            )
        },
        preprocessors=[],
    )
    return name


@dataclasses.dataclass(frozen=True)
class ItemSequenceConverter:
    """seqio's LM converter plus each position's identifier digits; `codes` [num_items, M]."""

    codes: np.ndarray
    pack: bool = True

    def seqio_converter(self) -> seqio.FeatureConverter:
        return seqio.LMFeatureConverter(pack=self.pack)

    def add_codes(self, ds: tf.data.Dataset) -> tf.data.Dataset:
        table = tf.constant(
            np.concatenate([np.zeros((1, self.codes.shape[1]), np.int32), np.asarray(self.codes, np.int32)])
        )

        def add(ex: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
            return {
                **ex,
                "decoder_input_codes": tf.gather(table, ex["decoder_input_tokens"]),
                "decoder_target_codes": tf.gather(table, ex["decoder_target_tokens"]),
            }

        return ds.map(add, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
