"""Samples + templates → example columns → the tf.data source of a seqio Task.

Every example carries `inputs`, `targets` (text) and the evaluator's metadata. Columns are built once
per (task, split), in Python, and served with `tf.data.Dataset.from_tensor_slices`; list-valued
metadata (history_items, candidates) travels as ragged tensors, one variable-length vector each.
"""
from __future__ import annotations

import functools
from typing import Callable, Iterable, Optional, Sequence

import numpy as np
import tensorflow as tf

from genrec.tasks.examples import Sample
from genrec.tasks.templates import Template

# Metadata fields every example carries (besides inputs/targets) and their dtypes.
METADATA = {
    "user_index": tf.int32,
    "target_item": tf.int32,
    "history_items": tf.int32,  # variable length
    "candidates": tf.int32,  # variable length; empty outside the direct family
    "target_rating": tf.float32,
    "template_id": tf.string,
    "answer_kind": tf.string,
}
_LISTS = ("history_items", "candidates")


def render(samples: Iterable[Sample], templates: Sequence[Template],
           rng: Optional[np.random.Generator] = None) -> dict[str, list]:
    """Applies one random template per sample (rng given: training) or every template to every sample
    (rng None: evaluation, sample-major order)."""
    columns: dict[str, list] = {k: [] for k in ("inputs", "targets", *METADATA)}
    for sample in samples:
        chosen = [templates[rng.integers(len(templates))]] if rng is not None else templates
        for template in chosen:
            inputs, targets = template.render(sample.fields)
            columns["inputs"].append(inputs)
            columns["targets"].append(targets)
            columns["user_index"].append(sample.user_index)
            columns["target_item"].append(sample.target_item)
            columns["history_items"].append(np.asarray(sample.history_items, np.int32))
            columns["candidates"].append(np.asarray(sample.candidates, np.int32))
            columns["target_rating"].append(sample.target_rating)
            columns["template_id"].append(template.id)
            columns["answer_kind"].append(template.answer)
    return columns


def _ragged(rows: list[np.ndarray]) -> tf.RaggedTensor:
    lengths = np.array([len(r) for r in rows], np.int64)
    values = np.concatenate(rows) if rows else np.zeros(0, np.int32)
    return tf.RaggedTensor.from_row_lengths(values.astype(np.int32), lengths)


def to_tf_dataset(columns: dict[str, list]) -> tf.data.Dataset:
    tensors = {}
    for key, values in columns.items():
        if key in _LISTS:
            tensors[key] = _ragged(values)
        else:
            dtype = METADATA.get(key, tf.string)
            tensors[key] = tf.constant(values, dtype=dtype) if values else tf.zeros([0], dtype)
    return tf.data.Dataset.from_tensor_slices(tensors)


def dataset_fn(build: Callable[[str], dict[str, list]]) -> Callable[..., tf.data.Dataset]:
    """A seqio FunctionDataSource dataset_fn over `build(split) -> columns` (built once per split).

    Shuffling is a full shuffle of the split, reshuffled every epoch, deterministic given the seed.
    """
    cached = functools.lru_cache(maxsize=None)(build)

    def fn(split: str, shuffle_files: bool, seed: Optional[int] = None) -> tf.data.Dataset:
        columns = cached(split)
        ds = to_tf_dataset(columns)
        if shuffle_files:
            ds = ds.shuffle(max(1, len(columns["inputs"])), seed=seed, reshuffle_each_iteration=True)
        return ds

    return fn
