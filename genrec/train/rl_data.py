"""RL batches: users' training histories cut at a random point, the next item as the held-in target.

Only each user's training part (`dataset.split('train')`: all but the last two items) is read, so no
reward ever sees a validation or test item. Epoch e visits every user with at least two training
items once, in an order and with cut points drawn from (seed, e); a batch is a contiguous slice of
that endless stream, so a run resumed at step s sees exactly the batches an uninterrupted run would,
and each process takes its own rows of every global batch.

A batch's rows are (user index, training view, cut); the model's featurizer turns them into arrays:
  item_sequence_features (the parallel-digit model): `decoder_input_tokens` [B, max_len + 1] int32
      (a begin-of-sequence 0, then the newest <= max_len history items as item + 1, oldest first,
      then 0 padding) and `decoder_target_tokens` [B, 1] (the target item + 1);
  prompt_features (the encoder-decoder): `encoder_input_tokens` [B, S] (the sequential prompt as
      training rendered it, `tasks/prompts.py`, 0 padding) and `target_item` [B].
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

import jax
import numpy as np

from genrec.datasets.records import UserHistory

Row = tuple[int, UserHistory, int]  # (user index, training view, cut): history view.items[:cut]
Featurize = Callable[[Sequence[Row]], dict[str, np.ndarray]]


def training_views(dataset) -> list[tuple[int, UserHistory]]:
    """(user index, training part) of every user with at least one (history, next item) pair."""
    return [(u, view) for u, view in enumerate(dataset.split("train")) if len(view.items) >= 2]


def epoch_examples(lengths: np.ndarray, seed: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """(order, cut points) of one epoch over users whose training parts have `lengths`: the history
    of the i-th visited user is its part[:cuts[i]], the target part[cuts[i]], cut uniform in 1 .. len - 1."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    cuts = 1 + np.floor(rng.random(len(order)) * (np.asarray(lengths)[order] - 1)).astype(np.int64)
    return order, cuts


def batches(
    dataset, batch_size: int, featurize: Featurize, *, start_step: int = 0, seed: int = 0
) -> Iterator[dict[str, np.ndarray]]:
    """This process's endless [batch_size] batches from global batch `start_step` on."""
    views = training_views(dataset)
    if not views:
        raise ValueError(f"dataset {dataset.name!r}: no user has two training items, nothing to reward")
    lengths = np.array([len(v.items) for _, v in views])
    n, count, rank = len(views), jax.process_count(), jax.process_index()
    global_batch = batch_size * count
    position = start_step * global_batch  # index into the endless stream of examples
    epoch, cached = -1, None
    while True:
        rows = []
        for r in range(position + rank * batch_size, position + (rank + 1) * batch_size):
            if r // n != epoch:
                epoch, cached = int(r // n), epoch_examples(lengths, seed, int(r // n))
            order, cuts = cached
            user, view = views[order[r % n]]
            rows.append((user, view, int(cuts[r % n])))
        position += global_batch
        yield featurize(rows)


def item_sequence_features(max_len: int) -> Featurize:
    def featurize(rows: Sequence[Row]) -> dict[str, np.ndarray]:
        tokens = np.zeros((len(rows), max_len + 1), np.int32)
        targets = np.zeros((len(rows), 1), np.int32)
        for i, (_, view, cut) in enumerate(rows):
            history = view.items[max(0, cut - max_len) : cut]
            tokens[i, 1 : 1 + len(history)] = history + 1
            targets[i, 0] = view.items[cut] + 1
        return {"decoder_input_tokens": tokens, "decoder_target_tokens": targets}

    return featurize


def prompt_features(prompts) -> Featurize:
    """`prompts`: a tasks.prompts.SequentialPrompts (its `length` is the padded input length)."""

    def featurize(rows: Sequence[Row]) -> dict[str, np.ndarray]:
        tokens = np.zeros((len(rows), prompts.length), np.int32)
        for i, (user, view, cut) in enumerate(rows):
            t = prompts.tokens(user, view, cut)
            tokens[i, : len(t)] = t
        return {
            "encoder_input_tokens": tokens,
            "target_item": np.array([view.items[cut] for _, view, cut in rows], np.int32),
        }

    return featurize
