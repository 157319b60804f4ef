"""The ranking protocol every ranker follows (ARCHITECTURE.md, "Evaluation protocol").

- Ties count against the target: its rank is the number of other ranked items scoring at least as
  high (`pessimistic_ranks`), so a model that scores everything alike ranks the target last.
- "History excluded" means the user's whole known history: those items score -inf before ranking
  (`exclude_history`), whoever the ranker is.
- Offline evaluation keeps history items by default (a leave-one-out target may repeat an earlier
  item, and published generative-recommendation numbers keep them); serving drops them by default
  (a user is not shown what they already have). Results record which (`describe`).

Functions take numpy or JAX arrays and answer in the same kind, so jitted code calls them too.
"""

from __future__ import annotations

from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

OFFLINE_DROP_HISTORY = False  # evaluation, baselines, exact ranking
SERVING_DROP_HISTORY = True  # `genrec recommend`, Recommender.recommend*
NO_HISTORY = -1  # padding of `padded_histories`


def _xp(x):
    return jnp if isinstance(x, jax.Array) else np


def pessimistic_ranks(scores, target_scores):
    """0-based rank of each target among the ranked items, ties counted against it.

    scores: [B, N] of every ranked item, the target's own included (-inf = not ranked);
    target_scores: [B]. A target scored -inf (excluded, or never reached by a beam) gets N: a miss.
    """
    xp = _xp(scores)
    target = target_scores[..., None]
    ranks = (scores >= target).sum(axis=-1) - 1
    return xp.where(target_scores == -xp.inf, scores.shape[-1], ranks)


def padded_histories(histories: Sequence[Sequence[int]], width: Optional[int] = None) -> np.ndarray:
    """[B, width] int32 item ids of each user's whole history, padded with NO_HISTORY (width: the
    longest history, at least 1, unless given)."""
    width = max([1] + [len(h) for h in histories]) if width is None else width
    out = np.full((len(histories), width), NO_HISTORY, np.int32)
    for row, h in enumerate(histories):
        if len(h) > width:
            raise ValueError(f"history {row} has {len(h)} items, more than width {width}")
        out[row, : len(h)] = h
    return out


def excluded_histories(
    histories: Sequence[Sequence[int]], exclude: bool, rows: Optional[int] = None
) -> np.ndarray:
    """[rows, W] the item ids each row excludes (`padded_histories`): its history when `exclude`, else
    none. Rows past len(histories) exclude nothing; W is a power of two (few distinct shapes to compile)."""
    rows = len(histories) if rows is None else rows
    kept = list(histories) if exclude else []
    longest = max([1] + [len(h) for h in kept])
    return padded_histories(kept + [()] * (rows - len(kept)), 1 << (longest - 1).bit_length())


def exclude_history(scores, history, items=None):
    """`scores` with every item of the user's history set to -inf.

    scores: [B, W] float; history: [B, H] item ids (`padded_histories`); items: [B, W] item ids of
    the scored columns, or None when column i is item i (a score over the whole catalogue).
    """
    xp = _xp(scores)
    if items is None:
        rows = xp.arange(scores.shape[0])[:, None]
        columns = xp.where(history == NO_HISTORY, scores.shape[1], history)  # padding → dropped
        if xp is jnp:
            return scores.at[rows, columns].set(-jnp.inf, mode="drop")
        out = np.concatenate([scores, np.zeros((len(scores), 1), scores.dtype)], axis=1)
        out[rows, columns] = -np.inf
        return out[:, :-1]
    seen = (items[..., None] == history[..., None, :]).any(axis=-1) & (items != NO_HISTORY)
    return xp.where(seen, -xp.inf, scores)


def describe(drop_history: bool) -> dict[str, str]:
    """The protocol a result was measured under, recorded with the result."""
    return {
        "history": "excluded (whole)" if drop_history else "kept",
        "ties": "against target",
        "identifier_score": "token log-probs, no EOS",
    }
