"""Turning ranked beams into a top-K list: drop items the user already has, deduplicate, filter.

Dropping history items removes entries from the ranked list, so decoding needs more beams than K:
`decode_width(top_k, headroom)` is the beam size that leaves `headroom` spare slots. Lists that
still run short are padded with NO_ITEM (counted as misses).
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import gin
import numpy as np

from genrec.evaluate.beyond_accuracy import NO_ITEM

# items [n] int, history [m] int → keep mask [n] bool.
ItemFilter = Callable[[np.ndarray, np.ndarray], np.ndarray]


def decode_width(top_k: int, beam_size: int, drop_history: bool, headroom: int) -> int:
    """Beams to decode: at least top_k, plus `headroom` spares when history items will be dropped."""
    return max(beam_size, top_k + (headroom if drop_history else 0))


@gin.configurable
def exclude_items(items: np.ndarray, history: np.ndarray, *, excluded: Sequence[int] = ()) -> np.ndarray:
    """An example business-rule filter: never recommend the `excluded` item ids."""
    del history
    return ~np.isin(items, np.asarray(excluded, np.int64))


def postprocess(ranked: np.ndarray, histories: Sequence[Sequence[int]], top_k: int, *,
                drop_history: bool = True, item_filter: Optional[ItemFilter] = None) -> np.ndarray:
    """ranked: [N, B] item ids best first (NO_ITEM allowed) → [N, top_k], padded with NO_ITEM."""
    ranked = np.asarray(ranked)
    if len(ranked) != len(histories):
        raise ValueError(f"{len(ranked)} ranked lists but {len(histories)} histories")
    out = np.full((len(ranked), top_k), NO_ITEM, np.int64)
    for row, (items, history) in enumerate(zip(ranked, histories)):
        history = np.asarray(history, np.int64)
        keep = items != NO_ITEM
        if drop_history:
            keep &= ~np.isin(items, history)
        if item_filter is not None:
            keep &= np.asarray(item_filter(items, history), bool)
        kept = items[keep]
        _, first = np.unique(kept, return_index=True)
        kept = kept[np.sort(first)][:top_k]  # deduplicated, order kept
        out[row, :len(kept)] = kept
    return out
