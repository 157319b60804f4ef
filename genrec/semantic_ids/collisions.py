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
        return {"items_in_collisions": self.items_in_collisions,
                "collision_rate": self.items_in_collisions / max(num_items, 1),
                "items_needing_collision_code": self.items_needing_code,
                "needing_collision_code_fraction": self.items_needing_code / max(num_items, 1),
                "largest_group": self.largest_group}


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
    report = CollisionReport(items_in_collisions=int(counts[counts > 1].sum()),
                             items_needing_code=int((rank > 0).sum()), largest_group=largest)
    return np.concatenate([codes, rank[:, None]], axis=1), largest, report
