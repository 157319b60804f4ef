"""The in-memory form of a prepared dataset: an item table and per-user time-ordered histories.

Every stage after data preparation (semantic IDs, seqio tasks, baselines, evaluation) reads this.
Item ids are ours: 0..num_items-1, assigned in sorted order of the source id (ASIN / movie id), so
they never leak the order in which items first appeared.

Leave-one-out: for a user with history [i_1 .. i_n] (n >= 3)
  train      = i_1 .. i_{n-2}
  validation = history i_1 .. i_{n-2}, target i_{n-1}
  test       = history i_1 .. i_{n-1}, target i_n
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np

SPLITS = ("train", "validation", "test")
# How many trailing items each split hides from the user's full history.
_HIDDEN = {"train": 2, "validation": 1, "test": 0}
# Item text fields a dataset may carry, in the order item-text recipes read them.
ITEM_TEXT_FIELDS = ("title", "brand", "categories", "description", "price")
MIN_INTERACTIONS = 3


@dataclasses.dataclass(frozen=True)
class ItemTable:
    """Items indexed by our id; `text[field][i]` is item i's text ('' where unknown)."""

    source_ids: tuple[str, ...]
    text: dict[str, tuple[str, ...]]

    def __post_init__(self):
        for field, values in self.text.items():
            if len(values) != len(self.source_ids):
                raise ValueError(
                    f"item field {field!r} has {len(values)} values for {len(self.source_ids)} items"
                )

    @property
    def num_items(self) -> int:
        return len(self.source_ids)

    def field(self, name: str) -> tuple[str, ...]:
        return self.text.get(name, ("",) * self.num_items)

    def title(self, item: int) -> str:
        return self.field("title")[item]


@dataclasses.dataclass(frozen=True)
class UserHistory:
    """One user's interactions in chronological order (ties kept in the source's order)."""

    user_id: str
    items: np.ndarray  # int32 [n], our item ids
    timestamps: np.ndarray  # int64 [n], unix seconds
    ratings: Optional[np.ndarray] = None  # float32 [n]
    reviews: Optional[tuple[str, ...]] = None
    summaries: Optional[tuple[str, ...]] = None

    def __len__(self) -> int:
        return len(self.items)

    def truncated(self, hidden: int) -> "UserHistory":
        """The history without its last `hidden` interactions."""
        if hidden == 0:
            return self
        cut = slice(0, len(self.items) - hidden)
        return UserHistory(
            user_id=self.user_id,
            items=self.items[cut],
            timestamps=self.timestamps[cut],
            ratings=None if self.ratings is None else self.ratings[cut],
            reviews=None if self.reviews is None else self.reviews[cut],
            summaries=None if self.summaries is None else self.summaries[cut],
        )


@dataclasses.dataclass(frozen=True)
class RecDataset:
    """A prepared dataset: `users` hold full histories; `split()` gives leave-one-out views."""

    name: str
    items: ItemTable
    users: tuple[UserHistory, ...]

    @property
    def num_items(self) -> int:
        return self.items.num_items

    @property
    def has_ratings(self) -> bool:
        return bool(self.users) and self.users[0].ratings is not None

    @property
    def has_reviews(self) -> bool:
        return bool(self.users) and self.users[0].reviews is not None

    def split(self, split: str, users: Optional[Sequence[int]] = None) -> list[UserHistory]:
        """Per-user sequences visible in `split` (of the users at indices `users`, default all); for
        validation/test the last item is the target."""
        if split not in _HIDDEN:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        chosen = self.users if users is None else [self.users[i] for i in users]
        return [u.truncated(_HIDDEN[split]) for u in chosen]

    def train_matrix_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(user index, item id) pairs of the training split, for co-occurrence and popularity."""
        rows, cols = [], []
        for u, hist in enumerate(self.split("train")):
            rows.append(np.full(len(hist), u, np.int32))
            cols.append(hist.items)
        return np.concatenate(rows), np.concatenate(cols)

    def stats(self) -> dict:
        lengths = np.array([len(u) for u in self.users])
        num_users, num_items = len(self.users), self.num_items
        interactions = int(lengths.sum())
        return {
            "dataset": self.name,
            "users": num_users,
            "items": num_items,
            "interactions": interactions,
            "mean_seq_len": float(lengths.mean()) if num_users else 0.0,
            "median_seq_len": float(np.median(lengths)) if num_users else 0.0,
            "density": interactions / max(1, num_users * num_items),
        }


def format_stats(stats: dict) -> str:
    return (
        f"{stats['dataset']}: users={stats['users']:,} items={stats['items']:,} "
        f"interactions={stats['interactions']:,} mean_seq_len={stats['mean_seq_len']:.2f} "
        f"median_seq_len={stats['median_seq_len']:.1f} density={stats['density']:.6f}"
    )


def check_users(users: Sequence[UserHistory], num_items: int) -> None:
    """Invariants every prepared dataset holds; raises with the offending user."""
    for u in users:
        if len(u) < MIN_INTERACTIONS:
            raise ValueError(f"user {u.user_id!r} has {len(u)} interactions (< {MIN_INTERACTIONS})")
        if u.items.min() < 0 or u.items.max() >= num_items:
            raise ValueError(f"user {u.user_id!r} has an item id outside [0, {num_items})")
