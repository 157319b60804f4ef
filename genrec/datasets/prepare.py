"""Raw interactions (any source format) → RecDataset: order, remap ids, apply the drop policy.

Parsers produce a columnar `RawInteractions` (one entry per interaction, in file order) and a
`RawItems` mapping; `build_dataset` is the one place where ids are remapped and histories sorted.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from typing import Optional, Sequence

import numpy as np

from genrec.datasets import records

RawItems = dict[str, dict[str, str]]  # source item id → {text field: value}


@dataclasses.dataclass
class RawInteractions:
    """Columnar interactions in file order. `line[i]` is where row i came from, for errors."""

    users: Sequence[str]  # lists or numpy arrays
    items: Sequence[str]
    timestamps: Sequence[int]
    seq_pos: Optional[list[int]] = None  # the source's order of same-time ties, where given
    ratings: Optional[list[float]] = None
    reviews: Optional[list[str]] = None
    summaries: Optional[list[str]] = None
    source: str = "<memory>"
    lines: Optional[list[int]] = None

    def __len__(self) -> int:
        return len(self.users)

    def where(self, row: int) -> str:
        line = self.lines[row] if self.lines is not None else row + 1
        return f"{self.source}:{line}"


@dataclasses.dataclass
class DropLog:
    """Counts of what the documented drop policy removed; logged once at the end."""

    counts: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def add(self, reason: str, n: int = 1) -> None:
        if n:
            self.counts[reason] += n

    def report(self, name: str) -> None:
        for reason, n in sorted(self.counts.items()):
            logging.warning("%s: dropped %d %s", name, n, reason)


def kcore(raw: RawInteractions, k: int, drops: DropLog) -> np.ndarray:
    """Row mask keeping the k-core: every user and item with >= k interactions (iterated)."""
    _, user = np.unique(np.asarray(raw.users), return_inverse=True)
    _, item = np.unique(np.asarray(raw.items), return_inverse=True)
    keep = np.ones(len(raw), bool)
    while True:
        u_count = np.bincount(user[keep], minlength=user.max() + 1)
        i_count = np.bincount(item[keep], minlength=item.max() + 1)
        ok = keep & (u_count[user] >= k) & (i_count[item] >= k)
        if ok.sum() == keep.sum():
            break
        keep = ok
    drops.add(f"interactions outside the {k}-core", int(len(raw) - keep.sum()))
    return keep


def build_dataset(
    name: str,
    raw: RawInteractions,
    items: Optional[RawItems] = None,
    *,
    k_core: Optional[int] = None,
    unknown_items: str = "error",
) -> records.RecDataset:
    """Sorts each user's interactions by (timestamp, seq_pos or file order) and remaps ids.

    items: the item table; None means "items are whatever the interactions name" (text empty).
    unknown_items: "error" raises naming the file and line of the first interaction whose item is
      not in `items`; "drop" drops such interactions, counted and logged.
    Users left with fewer than 3 interactions are dropped, counted and logged.
    Vectorised (numpy), so millions of interactions take seconds.
    """
    if unknown_items not in ("error", "drop"):
        raise ValueError(f"unknown_items={unknown_items!r}: expected 'error' or 'drop'")
    drops = DropLog()
    if len(raw) == 0:
        raise ValueError(f"{raw.source}: no interactions")
    # Each string column is sorted once; later subsets are re-ranked with integer ops.
    user_names, user_all = np.unique(np.asarray(raw.users), return_inverse=True)
    item_names, item_all = np.unique(np.asarray(raw.items), return_inverse=True)
    keep = np.ones(len(raw), bool)
    if items is not None:
        known = np.array([str(s) in items for s in item_names], bool)[item_all]
        if unknown_items == "error" and not known.all():
            row = int(np.argmin(known))
            raise ValueError(f"{raw.where(row)}: item {raw.items[row]!r} is not in the item table")
        keep &= known
        drops.add("interactions with items missing from the item table", int((~known).sum()))
    if k_core:
        sub = _subset(raw, keep)
        keep_sub = kcore(sub, k_core, drops)
        keep[np.flatnonzero(keep)[~keep_sub]] = False

    # Users with too few interactions go (counted); everything left is kept.
    lengths = np.bincount(user_all[keep], minlength=len(user_names))
    short = (lengths > 0) & (lengths < records.MIN_INTERACTIONS)
    drops.add(f"users with fewer than {records.MIN_INTERACTIONS} interactions", int(short.sum()))
    rows = np.flatnonzero(keep & ~short[user_all])
    if len(rows) == 0:
        raise ValueError(f"{raw.source}: no user has {records.MIN_INTERACTIONS} or more interactions")

    user_names, user_of = _rerank(user_names, user_all[rows])
    used, item_of = _rerank(item_names, item_all[rows])  # our id = rank of the source id
    used = [str(s) for s in used]
    fields = sorted({f for s in used for f in (items or {}).get(s, {})})
    table = records.ItemTable(
        source_ids=tuple(used),
        text={f: tuple(str(items[s].get(f, "") or "") for s in used) for f in fields},
    )
    tie = np.asarray(raw.seq_pos, np.int64)[rows] if raw.seq_pos is not None else rows
    times = np.asarray(raw.timestamps, np.int64)[rows]
    order = np.lexsort((rows, tie, times, user_of))  # by user, then time, then tie order
    ends = np.cumsum(np.bincount(user_of, minlength=len(user_names)))
    starts = ends - np.bincount(user_of, minlength=len(user_names))

    def column(values, dtype):
        return None if values is None else np.asarray(values, dtype)[rows][order]

    item_ids, times = item_of.astype(np.int32)[order], times[order]
    ratings = column(raw.ratings, np.float32)
    reviews, summaries = column(raw.reviews, object), column(raw.summaries, object)
    users = []
    for u, (a, b) in enumerate(zip(starts, ends)):
        users.append(
            records.UserHistory(
                user_id=str(user_names[u]),
                items=item_ids[a:b],
                timestamps=times[a:b],
                ratings=None if ratings is None else ratings[a:b],
                reviews=None if reviews is None else tuple(reviews[a:b]),
                summaries=None if summaries is None else tuple(summaries[a:b]),
            )
        )
    drops.report(name)
    return records.RecDataset(name=name, items=table, users=tuple(users))


def _rerank(names: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted names that `index` uses, and `index` renumbered into them."""
    present = np.bincount(index, minlength=len(names)) > 0
    return names[present], (np.cumsum(present) - 1)[index]


def _subset(raw: RawInteractions, keep: np.ndarray) -> RawInteractions:
    rows = np.flatnonzero(keep)

    def take(col: Optional[Sequence]):
        return None if col is None else [col[r] for r in rows]

    return RawInteractions(
        users=take(raw.users),
        items=take(raw.items),
        timestamps=take(raw.timestamps),
        seq_pos=take(raw.seq_pos),
        ratings=take(raw.ratings),
        reviews=take(raw.reviews),
        summaries=take(raw.summaries),
        source=raw.source,
        lines=take(raw.lines) if raw.lines is not None else [r + 1 for r in rows],
    )
