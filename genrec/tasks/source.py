"""Samples + templates → example columns → the tf.data source of a seqio Task.

Every example carries `inputs`, `targets` (text) and the evaluator's metadata. Columns are built once
per (task, split), in Python, and served with `tf.data.Dataset.from_tensor_slices`; list-valued
metadata (history_items, candidates) travels as ragged tensors, one variable-length vector each.
Evaluation splits are rendered here with every evaluation template; training splits carry the
samples' text fields instead, and `choose_template` renders each example with a template drawn
afresh every time the example comes round (every epoch).
"""

from __future__ import annotations

import functools
import string
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
_SAMPLE_METADATA = ("user_index", "target_item", *_LISTS, "target_rating")
_RENDERED = ("inputs", "targets", "template_id", "answer_kind")  # what a template makes of a sample
_FIELD = "field_"  # training columns of sample text fields: `field_history`, ...


def _columns(rows: Iterable[tuple[Sample, dict[str, str]]], text_keys: Sequence[str]) -> dict[str, list]:
    """One column per text key (each row's dict) and per sample metadata field."""
    columns: dict[str, list] = {k: [] for k in (*text_keys, *_SAMPLE_METADATA)}
    for sample, text in rows:
        for key in text_keys:
            columns[key].append(text[key])
        columns["user_index"].append(sample.user_index)
        columns["target_item"].append(sample.target_item)
        columns["history_items"].append(np.asarray(sample.history_items, np.int32))
        columns["candidates"].append(np.asarray(sample.candidates, np.int32))
        columns["target_rating"].append(sample.target_rating)
    return columns


def render(samples: Iterable[Sample], templates: Sequence[Template]) -> dict[str, list]:
    """Evaluation columns: every template applied to every sample (sample-major order)."""

    def rows():
        for sample in samples:
            for t in templates:
                inputs, targets = t.render(sample.fields)
                yield sample, dict(zip(_RENDERED, (inputs, targets, t.id, t.answer)))

    return _columns(rows(), _RENDERED)


def fields(samples: Iterable[Sample], templates: Sequence[Template]) -> dict[str, list]:
    """Training columns: the text fields `templates` read, one row per sample (see choose_template)."""
    names = sorted(set().union(*(t.fields for t in templates)))
    return _columns(
        ((s, {_FIELD + n: s.fields[n] for n in names}) for s in samples), [_FIELD + n for n in names]
    )


def _fill(text: str, example: dict[str, tf.Tensor]) -> tf.Tensor:
    """`text.format(**fields)` on the example's field columns (templates hold plain `{name}`s)."""
    parts = []
    for literal, name, spec, conversion in string.Formatter().parse(text):
        if spec or conversion:
            raise ValueError(f"template text {text!r}: only plain {{name}} fields are supported")
        parts += [literal] + ([example[_FIELD + name]] if name is not None else [])
    return tf.strings.join(parts)


def choose_template(
    templates: Sequence[Template], seed: Sequence[int]
) -> Callable[[tf.data.Dataset], tf.data.Dataset]:
    """A seqio preprocessor rendering each training example with one of `templates`, drawn afresh for
    every example the (repeated) stream yields, so every epoch draws a new template per sample;
    evaluation splits (already rendered) pass through.

    Why here: seqio repeats a task's source and then runs its preprocessors, but caches a small
    source (< 10,000 examples) in memory before repeating it, so whatever a source drew per epoch
    (or a rebuild of its columns per epoch, which would also need an epoch index the source never
    sees) would be replayed from the first epoch; and rendering every template up front to pick one
    later would hold every rendering in memory (13x the sequential text, 8x the direct candidate
    lists). So the source serves the samples' text fields and this map renders the drawn template
    in TF. The draw is stateless: `seed` folded with the example's position in the task's repeated
    stream (epoch e of n examples is positions e*n .. e*n+n-1), so the templates are a function of
    the shuffle seed and `seed` alone, and a resumed run (which replays the stream,
    genrec/train/data.py) sees the same ones.
    """
    key = tf.constant(seed, tf.int64)

    def fn(ds: tf.data.Dataset) -> tf.data.Dataset:
        if "inputs" in ds.element_spec:
            return ds

        def render_one(position, ex):
            draw = tf.random.stateless_uniform(
                [],
                tf.random.experimental.stateless_fold_in(key, position),
                maxval=len(templates),
                dtype=tf.int32,
            )
            branches = [
                lambda t=t: (
                    _fill(t.inputs, ex),
                    _fill(t.targets, ex),
                    tf.constant(t.id),
                    tf.constant(t.answer),
                )
                for t in templates
            ]
            rendered = tf.switch_case(draw, branches)
            out = {k: v for k, v in ex.items() if not k.startswith(_FIELD)}
            return out | dict(zip(_RENDERED, rendered))

        return ds.enumerate().map(render_one, num_parallel_calls=tf.data.AUTOTUNE)

    return fn


def _ragged(rows: list[np.ndarray]) -> tf.RaggedTensor:
    lengths = np.array([len(r) for r in rows], np.int64)
    values = np.concatenate(rows) if rows else np.zeros(0, np.int32)
    return tf.RaggedTensor.from_row_lengths(values.astype(np.int32), lengths)


def num_examples(columns: dict[str, list]) -> int:
    return len(columns["user_index"])


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

    Shuffling is a full shuffle of the split, reshuffled every epoch, deterministic given the seed
    (seqio replays the first epoch's order of a source it caches in memory: see choose_template).
    """
    cached = functools.lru_cache(maxsize=None)(build)

    def fn(split: str, shuffle_files: bool, seed: Optional[int] = None) -> tf.data.Dataset:
        columns = cached(split)
        ds = to_tf_dataset(columns)
        if shuffle_files:
            ds = ds.shuffle(max(1, num_examples(columns)), seed=seed, reshuffle_each_iteration=True)
        return ds

    return fn
