"""RL batches: users' training histories cut at a random point, the next item as the held-in target.

Only each user's training part (`dataset.split('train')`: all but the last two items) is read, so no
reward ever sees a validation or test item. Epoch e visits every user with at least two training
items once, in an order and with cut points drawn from (seed, e); a batch is a contiguous slice of
that endless stream, so a run resumed at step s sees exactly the batches an uninterrupted run would,
and each process takes its own rows of every global batch.

Features (the parallel-digit model's layout): `decoder_input_tokens` [B, max_len + 1] int32 (a
begin-of-sequence 0, then the newest <= max_len history items as item + 1, oldest first, then 0
padding) and `decoder_target_tokens` [B, 1] (the target item + 1).
"""
from __future__ import annotations

from typing import Iterator

import jax
import numpy as np


def training_parts(dataset) -> list[np.ndarray]:
    """Every user's training items with at least one (history, next item) pair in it."""
    return [np.asarray(u.items, np.int64) for u in dataset.split("train") if len(u.items) >= 2]


def epoch_examples(parts: list[np.ndarray], seed: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """(user order, cut points) of one epoch: the history of user u is parts[u][:cut], the target
    parts[u][cut], cut uniform in 1 .. len - 1."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(parts))
    lengths = np.array([len(parts[u]) for u in order])
    cuts = 1 + np.floor(rng.random(len(order)) * (lengths - 1)).astype(np.int64)
    return order, cuts


def batches(dataset, max_len: int, batch_size: int, *, start_step: int = 0, seed: int = 0
            ) -> Iterator[dict[str, np.ndarray]]:
    """This process's endless [batch_size] batches from global batch `start_step` on."""
    parts = training_parts(dataset)
    if not parts:
        raise ValueError(f"dataset {dataset.name!r}: no user has two training items, nothing to reward")
    n, count, rank = len(parts), jax.process_count(), jax.process_index()
    global_batch = batch_size * count
    position = start_step * global_batch  # index into the endless stream of examples
    epoch, cached = -1, None
    while True:
        rows = np.arange(position + rank * batch_size, position + (rank + 1) * batch_size)
        tokens = np.zeros((batch_size, max_len + 1), np.int32)
        targets = np.zeros((batch_size, 1), np.int32)
        for i, r in enumerate(rows):
            if r // n != epoch:
                epoch, cached = int(r // n), epoch_examples(parts, seed, int(r // n))
            order, cuts = cached
            user, cut = order[r % n], cuts[r % n]
            history = parts[user][max(0, cut - max_len):cut]
            tokens[i, 1:1 + len(history)] = history + 1
            targets[i, 0] = parts[user][cut] + 1
        position += global_batch
        yield {"decoder_input_tokens": tokens, "decoder_target_tokens": targets}
