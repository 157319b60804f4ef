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

    users: list[str]
    items: list[str]
    timestamps: list[int]
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
    users = np.asarray(raw.users, dtype=object)
    items = np.asarray(raw.items, dtype=object)
    keep = np.ones(len(raw), bool)
    while True:
        u_count = collections.Counter(users[keep])
        i_count = collections.Counter(items[keep])
        ok = keep & np.array([u_count[u] >= k and i_count[i] >= k for u, i in zip(users, items)])
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
    """
    drops = DropLog()
    if len(raw) == 0:
        raise ValueError(f"{raw.source}: no interactions")
    keep = np.ones(len(raw), bool)
    if items is not None:
        for row, item in enumerate(raw.items):
            if item not in items:
                if unknown_items == "error":
                    raise ValueError(f"{raw.where(row)}: item {item!r} is not in the item table")
                keep[row] = False
        drops.add("interactions with items missing from the item table", int((~keep).sum()))
    if k_core:
        sub = _subset(raw, keep)
        keep_sub = kcore(sub, k_core, drops)
        keep[np.flatnonzero(keep)[~keep_sub]] = False

    by_user: dict[str, list[int]] = collections.defaultdict(list)
    for row in np.flatnonzero(keep):
        by_user[raw.users[row]].append(row)
    short = [u for u, rows in by_user.items() if len(rows) < records.MIN_INTERACTIONS]
    drops.add(f"users with fewer than {records.MIN_INTERACTIONS} interactions", len(short))
    for u in short:
        del by_user[u]
    if not by_user:
        raise ValueError(f"{raw.source}: no user has {records.MIN_INTERACTIONS} or more interactions")

    used = sorted({raw.items[r] for rows in by_user.values() for r in rows})
    item_index = {s: i for i, s in enumerate(used)}
    fields = sorted({f for s in used for f in (items or {}).get(s, {})})
    table = records.ItemTable(
        source_ids=tuple(used),
        text={f: tuple(str(items[s].get(f, "") or "") for s in used) for f in fields},
    )
    tie = raw.seq_pos if raw.seq_pos is not None else range(len(raw))
    users = []
    for user in sorted(by_user):
        rows = sorted(by_user[user], key=lambda r: (raw.timestamps[r], tie[r], r))
        users.append(records.UserHistory(
            user_id=user,
            items=np.array([item_index[raw.items[r]] for r in rows], np.int32),
            timestamps=np.array([raw.timestamps[r] for r in rows], np.int64),
            ratings=None if raw.ratings is None else np.array([raw.ratings[r] for r in rows], np.float32),
            reviews=None if raw.reviews is None else tuple(raw.reviews[r] for r in rows),
            summaries=None if raw.summaries is None else tuple(raw.summaries[r] for r in rows),
        ))
    drops.report(name)
    return records.RecDataset(name=name, items=table, users=tuple(users))


def _subset(raw: RawInteractions, keep: np.ndarray) -> RawInteractions:
    rows = np.flatnonzero(keep)

    def take(col: Optional[Sequence]):
        return None if col is None else [col[r] for r in rows]

    return RawInteractions(
        users=take(raw.users), items=take(raw.items), timestamps=take(raw.timestamps),
        seq_pos=take(raw.seq_pos), ratings=take(raw.ratings), reviews=take(raw.reviews),
        summaries=take(raw.summaries), source=raw.source,
        lines=take(raw.lines) if raw.lines is not None else [r + 1 for r in rows])
