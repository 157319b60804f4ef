"""Turning ranked beams into a top-K list: drop items the user already has, deduplicate, filter.

The search is the same whether history is kept or dropped (`decode_width`): dropping history items
only removes entries from the ranked list (protocol.exclude_history), and lists that run short are
padded with NO_ITEM (counted as misses). Items scored -inf are never kept.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import gin
import numpy as np

from genrec.evaluate import protocol
from genrec.evaluate.beyond_accuracy import NO_ITEM

# items [n] int, history [m] int → keep mask [n] bool.
ItemFilter = Callable[[np.ndarray, np.ndarray], np.ndarray]


def decode_width(top_k: int, beam_size: int) -> int:
    """Beams to decode: beam_size, at least top_k; the same with history kept or dropped."""
    return max(beam_size, top_k)


@gin.configurable
def exclude_items(items: np.ndarray, history: np.ndarray, *, excluded: Sequence[int] = ()) -> np.ndarray:
    """An example business-rule filter: never recommend the `excluded` item ids."""
    del history
    return ~np.isin(items, np.asarray(excluded, np.int64))


def postprocess(
    ranked: np.ndarray,
    scores: np.ndarray,
    histories: Sequence[Sequence[int]],
    top_k: int,
    *,
    drop_history: bool,
    item_filter: Optional[ItemFilter] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """ranked, scores: [N, B] item ids best first (NO_ITEM allowed) and their scores →
    ([N, top_k] items padded with NO_ITEM, [N, top_k] their scores padded with -inf)."""
    ranked, scores = np.asarray(ranked), np.asarray(scores, np.float32)
    if not len(ranked) == len(scores) == len(histories):
        raise ValueError(f"{len(ranked)} ranked lists, {len(scores)} score lists, {len(histories)} histories")
    if drop_history:
        scores = protocol.exclude_history(scores, protocol.padded_histories(histories), items=ranked)
    out = np.full((len(ranked), top_k), NO_ITEM, np.int64)
    out_scores = np.full((len(ranked), top_k), -np.inf, np.float32)
    for row, (items, history) in enumerate(zip(ranked, histories)):
        keep = (items != NO_ITEM) & (scores[row] > -np.inf)
        if item_filter is not None:
            keep &= np.asarray(item_filter(items, np.asarray(history, np.int64)), bool)
        kept = np.flatnonzero(keep)
        _, first = np.unique(items[kept], return_index=True)
        kept = kept[np.sort(first)][:top_k]  # deduplicated, order kept
        out[row, : len(kept)], out_scores[row, : len(kept)] = items[kept], scores[row, kept]
    return out, out_scores
