"""Leave-one-out evaluation by full ranking over the catalogue, with genrec's ranking metrics.

A scorer maps a batch of left-padded history tokens [B, T] to scores over every item [B, num_items]
(padding is not an item, so it can never be recommended). History items are kept by default, as
genrec's own evaluator keeps them, so every row of a table ranks the same way. `exclude_history=True`
masks the items in the scored window (the last max_len history items), as RecBole and the usual
cross-entropy SASRec code do. The metrics include `target_in_history` and `history@10`
(beyond_accuracy.history_repeats) over the scored window: on Amazon Beauty no target is a history
item, yet a converged SASRec-CE fills 13 % of its top-10 with them (benchmarks/quality/RESULTS.md).
"""
from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from genrec.baselines import sequences
from genrec.datasets.records import RecDataset
from genrec.evaluate.beyond_accuracy import history_repeats
from genrec.evaluate.ranking import SEQUENTIAL_KS, ranking_metrics

Scorer = Callable[[jax.Array], jax.Array]
KS = SEQUENTIAL_KS


def leave_one_out(dataset: RecDataset, split: str) -> tuple[list[np.ndarray], np.ndarray]:
    """(histories, targets) of the validation or test split: the last item is the target."""
    if split not in ("validation", "test"):
        raise ValueError(f"split {split!r} has no held-out target; use 'validation' or 'test'")
    users = dataset.split(split)
    return [u.items[:-1] for u in users], np.array([u.items[-1] for u in users], np.int32)


@functools.partial(jax.jit, static_argnames=("k", "exclude_history"))
def masked_top_k(scores: jax.Array, tokens: jax.Array, k: int, exclude_history: bool) -> jax.Array:
    scores = scores.astype(jnp.float32)
    if exclude_history:
        rows = jnp.arange(scores.shape[0])[:, None]
        seen = jnp.where(tokens == sequences.PAD, scores.shape[1], tokens - 1)  # padding → dropped
        scores = scores.at[rows, seen].set(-jnp.inf, mode="drop")
    return jax.lax.top_k(scores, k)[1]


def top_k(scorer: Scorer, histories, *, k: int, max_len: int, batch_size: int = 512,
          exclude_history: bool = False) -> np.ndarray:
    """[len(histories), k] item ids, best first (ties: lower item id first)."""
    out = np.zeros((len(histories), k), np.int32)
    for index, tokens in sequences.batches(histories, batch_size, max_len):
        tokens = jnp.asarray(tokens)
        best = np.asarray(masked_top_k(scorer(tokens), tokens, k, exclude_history))
        real = index >= 0
        out[index[real]] = best[real]
    return out


def evaluate(scorer: Scorer, dataset: RecDataset, split: str, *, max_len: int,
             batch_size: int = 512, exclude_history: bool = False) -> dict[str, float]:
    histories, targets = leave_one_out(dataset, split)
    topk = top_k(scorer, histories, k=min(max(KS), dataset.num_items), max_len=max_len,
                 batch_size=batch_size, exclude_history=exclude_history)
    return {**ranking_metrics(topk, targets, ks=KS),
            **history_repeats(topk, [h[-max_len:] for h in histories], targets)}
