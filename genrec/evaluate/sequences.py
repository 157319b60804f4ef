"""Item sequences → left-padded, length-bucketed int batches for the sequential baselines.

Token 0 is padding and item i is token i + 1. Sequences are right-aligned (left-padded) as in
SASRec, so the newest item is always in the last slot. Batches are bucketed by length (window
lengths 8, 16, 32, ... up to max_len) because Amazon histories are short (median 6): a window of 50
for every user would spend most compute on padding. Position embeddings are indexed from the end
of the max_len window (see `positions`), and padding keys are masked, so a sequence's outputs do not
depend on which bucket it lands in.
"""

from __future__ import annotations

from typing import Iterator, Optional, Sequence

import numpy as np

PAD = 0


def bucket_lengths(max_len: int, smallest: int = 8) -> list[int]:
    """Window lengths: powers of two from `smallest`, capped with max_len itself."""
    out, n = [], smallest
    while n < max_len:
        out.append(n)
        n *= 2
    return out + [max_len]


def window_for(length: int, max_len: int, smallest: int = 8) -> int:
    """The bucket window (`bucket_lengths`) that holds the last `length` items, at most max_len."""
    windows = bucket_lengths(max_len, smallest)
    return windows[int(np.searchsorted(windows, min(max_len, max(1, length))))]


def positions(window: int, max_len: int) -> np.ndarray:
    """Position ids of a window's slots: the last slot is max_len - 1 whatever the window length."""
    return np.arange(max_len - window, max_len)


def left_pad(seqs: Sequence[np.ndarray], window: int) -> np.ndarray:
    """[len(seqs), window] tokens (item + 1), each sequence's last `window` items right-aligned."""
    out = np.full((len(seqs), window), PAD, np.int32)
    for row, s in enumerate(seqs):
        s = np.asarray(s)[-window:]
        if len(s):
            out[row, window - len(s) :] = s + 1
    return out


def batches(
    seqs: Sequence[np.ndarray],
    batch_size: int,
    max_len: int,
    *,
    extra: int = 0,
    rng: Optional[np.random.Generator] = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yields (row indices, tokens [batch_size, window + extra]) covering every sequence once.

    Each sequence keeps its last max_len + extra items; `extra=1` leaves room for the shifted
    next-item targets of training. Rows past the end of a bucket are all padding (index -1).
    With `rng`, sequences are shuffled inside buckets and the batch order is shuffled.
    """
    windows = bucket_lengths(max_len)
    lengths = np.array([min(len(s), max_len + extra) - extra for s in seqs])
    which = np.searchsorted(windows, np.maximum(lengths, 1))
    plan = []
    for b, window in enumerate(windows):
        rows = np.flatnonzero(which == b)
        if rng is not None:
            rows = rng.permutation(rows)
        plan += [(window, rows[i : i + batch_size]) for i in range(0, len(rows), batch_size)]
    order = rng.permutation(len(plan)) if rng is not None else range(len(plan))
    for k in order:
        window, rows = plan[k]
        tokens = np.full((batch_size, window + extra), PAD, np.int32)
        tokens[: len(rows)] = left_pad([seqs[r] for r in rows], window + extra)
        index = np.full(batch_size, -1, np.int64)
        index[: len(rows)] = rows
        yield index, tokens
