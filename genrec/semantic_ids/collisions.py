"""TIGER's collision level: items that share a full code tuple get one extra disambiguating code."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class CollisionReport:
    items_in_collisions: int  # items that share their tuple with another item
    items_needing_code: int  # items given a non-zero collision code
    largest_group: int  # most items sharing one tuple (1 = no collisions)

    def as_dict(self, num_items: int) -> dict:
        return {
            "items_in_collisions": self.items_in_collisions,
            "collision_rate": self.items_in_collisions / max(num_items, 1),
            "items_needing_collision_code": self.items_needing_code,
            "needing_collision_code_fraction": self.items_needing_code / max(num_items, 1),
            "largest_group": self.largest_group,
        }


def add_collision_level(codes: np.ndarray) -> tuple[np.ndarray, int, CollisionReport]:
    """Appends a level numbering the items of each shared tuple 0, 1, ... in item-id order.

    Returns (codes [N, L+1], size of the new level (= largest group), report).
    """
    codes = np.asarray(codes, np.int32)
    _, group, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    group = group.reshape(-1)
    order = np.argsort(group, kind="stable")  # items of one group together, by item id
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(codes), np.int32)
    rank[order] = np.arange(len(codes)) - np.repeat(starts, counts)
    largest = int(counts.max()) if len(counts) else 1
    report = CollisionReport(
        items_in_collisions=int(counts[counts > 1].sum()),
        items_needing_code=int((rank > 0).sum()),
        largest_group=largest,
    )
    return np.concatenate([codes, rank[:, None]], axis=1), largest, report


class NoFreeIdentifier(ValueError):
    """Every candidate tuple of a new item, and every collision code under it, is taken."""

    def __init__(self, item: int, message: str):
        super().__init__(message)
        self.item = item  # its position among the new items


def assign_new(
    existing: np.ndarray, level_sizes: tuple[int, ...], candidates: np.ndarray, collision_level: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Identifiers for new items that leave every existing one as it is.

    existing: int32 [N, L] the catalogue's identifiers; candidates: int32 [M, C, L'] each new item's
    quantiser tuples, nearest first (L' = L - 1 with a collision level, else L). A new item takes its
    first candidate with a free identifier: with a collision level, the smallest collision code
    (< level_sizes[-1], the trained range) no item holds under that tuple. Items are placed in order,
    so an earlier new item can take a code a later one wanted.
    Returns (codes int32 [M, L], the index of the candidate each item took). Raises NoFreeIdentifier
    naming the item (by position) when none is free.
    """
    existing = np.asarray(existing, np.int32)
    candidates = np.asarray(candidates, np.int32)
    width = existing.shape[1] - int(collision_level)
    if candidates.ndim != 3 or candidates.shape[2] != width:
        raise ValueError(
            f"candidates {candidates.shape} do not match identifiers of {existing.shape[1]} "
            f"levels{' (one a collision level)' if collision_level else ''}"
        )
    slots = level_sizes[-1] if collision_level else 1
    used: dict[tuple, set] = {}
    for row in existing.tolist():
        used.setdefault(tuple(row[:width]), set()).add(row[width] if collision_level else 0)
    out = np.zeros((len(candidates), existing.shape[1]), np.int32)
    took = np.zeros(len(candidates), np.int32)
    for i, options in enumerate(candidates.tolist()):
        for c, base in enumerate(options):
            taken = used.setdefault(tuple(base), set())
            free = next((d for d in range(slots) if d not in taken), None)
            if free is not None:
                taken.add(free)
                out[i] = base + [free] if collision_level else base
                took[i] = c
                break
        else:
            raise NoFreeIdentifier(
                i,
                f"new item {i}: its {len(options)} nearest code tuples and "
                f"their {slots} collision codes are all taken",
            )
    return out, took
