"""Examples ↔ one .npz (no pickle), seqio's unpacked encoder-decoder features in numpy, and a
deterministic, resumable batch stream over them.

An example is a dict of scalars, strings and 1-D int/float arrays (what a seqio task yields). In the
file each key holds one column: scalars and strings as arrays, 1-D values as `<key>` (all values
concatenated) plus `<key>.lengths`.
"""

from __future__ import annotations

from typing import Iterator, Mapping, Sequence

import numpy as np

META_FILE = "meta.json"  # a snapshot's settings and counts (written by snapshot/write.py)

LENGTHS = ".lengths"


def _plain(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value


def save_examples(path: str, examples: Sequence[Mapping]) -> None:
    """Writes `examples` (all with the same keys) to `path` (.npz, compressed)."""
    if not examples:
        raise ValueError(f"{path}: no examples to save")
    columns: dict[str, np.ndarray] = {}
    for key in examples[0]:
        values = [_plain(e[key]) for e in examples]
        if isinstance(values[0], np.ndarray) and values[0].ndim == 1:
            rows = [np.asarray(v) for v in values]
            columns[key] = np.concatenate(rows)  # rows is never empty: examples is not
            columns[key + LENGTHS] = np.array([len(r) for r in rows], np.int64)
        else:
            columns[key] = np.asarray(values)
            if columns[key].dtype == object:
                raise TypeError(f"{path}: field {key!r} is neither scalar, string nor 1-D array")
    np.savez_compressed(path, **columns)


def load_columns(path: str) -> dict[str, np.ndarray]:
    """{key: [N] array or list of N 1-D arrays} from a file written by `save_examples`."""
    with np.load(path, allow_pickle=False) as f:
        raw = {k: f[k] for k in f.files}
    columns = {}
    for key, values in raw.items():
        if key.endswith(LENGTHS):
            continue
        if key + LENGTHS in raw:
            ends = np.cumsum(raw[key + LENGTHS])
            columns[key] = np.split(values, ends[:-1]) if len(ends) else []
        else:
            columns[key] = values
    return columns


def load_examples(path: str) -> list[dict]:
    """The examples of `path` as dicts (the form the evaluator takes)."""
    columns = load_columns(path)
    n = len(next(iter(columns.values())))
    return [{k: v[i] for k, v in columns.items()} for i in range(n)]


def _padded(rows: Sequence[np.ndarray], length: int) -> np.ndarray:
    out = np.zeros((len(rows), length), np.int32)
    for i, r in enumerate(rows):
        r = r[:length]
        out[i, : len(r)] = r
    return out


def encdec_features(
    inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray], lengths: Mapping[str, int]
) -> dict[str, np.ndarray]:
    """What seqio.EncDecFeatureConverter(pack=False) makes of these inputs/targets: zero-padded
    encoder inputs and decoder targets, decoder inputs = targets shifted right (0 first), and loss
    weights on non-padding targets."""
    target = _padded(targets, lengths["targets"])
    decoder_inputs = np.zeros_like(target)
    decoder_inputs[:, 1:] = target[:, :-1]
    return {
        "encoder_input_tokens": _padded(inputs, lengths["inputs"]),
        "decoder_target_tokens": target,
        "decoder_input_tokens": decoder_inputs,
        "decoder_loss_weights": (target > 0).astype(np.int32),
    }


class Batches:
    """Unpacked training batches over a fixed set of examples: each epoch a fresh permutation drawn
    from (seed, epoch), full batches only, and batch k of the stream depends only on k, so a run
    resumed at step k reads exactly what an uninterrupted run would have (no iterator state).
    With several processes, process p takes rows [p * local, (p + 1) * local) of each global batch.
    """

    def __init__(
        self,
        features: Mapping[str, np.ndarray],
        global_batch: int,
        *,
        seed: int = 0,
        process_index: int = 0,
        process_count: int = 1,
    ):
        self.features = dict(features)
        self.num_examples = len(next(iter(self.features.values())))
        if global_batch % process_count:
            raise ValueError(f"batch {global_batch} does not split over {process_count} processes")
        if self.num_examples < global_batch:
            raise ValueError(f"{self.num_examples} examples are fewer than one batch of {global_batch}")
        self.global_batch, self.seed = global_batch, seed
        self.local = global_batch // process_count
        self.offset = process_index * self.local
        self.batches_per_epoch = self.num_examples // global_batch
        self._epoch, self._order = -1, None

    def rows(self, step: int) -> np.ndarray:
        epoch, k = divmod(step, self.batches_per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._order = np.random.default_rng([self.seed, epoch]).permutation(self.num_examples)
        start = k * self.global_batch + self.offset
        return self._order[start : start + self.local]

    def __call__(self, start_step: int = 0) -> Iterator[dict[str, np.ndarray]]:
        step = start_step
        while True:
            rows = self.rows(step)
            yield {k: v[rows] for k, v in self.features.items()}
            step += 1
