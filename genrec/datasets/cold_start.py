"""Cold-start protocols: a dataset → the same users with a set of items kept out of training.

Item cold-start ("cold items" appear only as validation / test targets, never in a training part,
i.e. never in a user's items[:-2]):
  'liger'   LIGER's protocol (Yang et al. 2024, arXiv 2411.18814; its public code,
            ID_generation/utils.py `process_data_split`, with configs/dataset/amazon.yaml
            `max_items_per_seq: 20`): every user's history is cut to its newest 20 items; the cold
            items are the validation and test targets that are in no user's training part of the cut
            histories. Nothing else changes: no item is chosen, no interaction is dropped beyond the cut.
  'seeded'  a reproducible draw (`seed`) of `fraction` of the items that are some user's validation or
            test target; every one of their interactions in a training part is removed (they stay as
            validation / test targets, and in the test history where one is the validation target).
            A user left with fewer than records.MIN_INTERACTIONS interactions is dropped (counted).
User cold-start is a view, not a split: `cold_users` marks the users whose visible history has at
most `max_history` items (genrec/evaluate/cold_start.py reports them beside everyone).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Optional

import gin
import numpy as np

from genrec.datasets import records

PROTOCOLS = ("liger", "seeded")
LIGER_MAX_ITEMS_PER_SEQ = 20  # LIGER's configs/dataset/amazon.yaml


@dataclasses.dataclass(frozen=True)
class ColdStartSplit:
    dataset: records.RecDataset  # the users as training and evaluation see them
    cold_items: np.ndarray  # int32, sorted: items in no training part
    protocol: str
    info: dict  # what the protocol removed, for the results


def training_items(dataset: records.RecDataset) -> np.ndarray:
    """Sorted ids of the items that occur in some user's training part (items[:-2])."""
    parts = [u.items for u in dataset.split("train")]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int32)


def target_items(dataset: records.RecDataset) -> np.ndarray:
    """Sorted ids of the items that are some user's validation or test target."""
    return np.unique(np.concatenate([u.items[-2:] for u in dataset.users]))


def _keep(user: records.UserHistory, mask: np.ndarray) -> records.UserHistory:
    pick = lambda seq: (
        None
        if seq is None
        else (seq[mask] if isinstance(seq, np.ndarray) else tuple(s for s, m in zip(seq, mask) if m))
    )
    return records.UserHistory(
        user.user_id,
        user.items[mask],
        user.timestamps[mask],
        pick(user.ratings),
        pick(user.reviews),
        pick(user.summaries),
    )


def cut_histories(dataset: records.RecDataset, max_items: int) -> records.RecDataset:
    """Every user's newest `max_items` interactions (LIGER cuts before it splits)."""
    users = tuple(
        u if len(u) <= max_items else _keep(u, np.arange(len(u)) >= len(u) - max_items) for u in dataset.users
    )
    return dataclasses.replace(dataset, users=users)


def liger_split(
    dataset: records.RecDataset, max_items_per_seq: int = LIGER_MAX_ITEMS_PER_SEQ
) -> ColdStartSplit:
    cut = cut_histories(dataset, max_items_per_seq)
    cold = np.setdiff1d(target_items(cut), training_items(cut)).astype(np.int32)
    removed = sum(len(u) for u in dataset.users) - sum(len(u) for u in cut.users)
    return ColdStartSplit(
        cut, cold, "liger", {"max_items_per_seq": max_items_per_seq, "interactions_cut": int(removed)}
    )


def seeded_split(dataset: records.RecDataset, fraction: float = 0.05, seed: int = 0) -> ColdStartSplit:
    if not 0 < fraction < 1:
        raise ValueError(f"cold_start_split.fraction must be in (0, 1), got {fraction}")
    pool = target_items(dataset)
    count = max(1, int(round(fraction * len(pool))))
    cold = np.sort(np.random.default_rng(seed).choice(pool, count, replace=False)).astype(np.int32)
    is_cold = np.zeros(dataset.num_items, bool)
    is_cold[cold] = True
    users, removed, dropped = [], 0, 0
    for u in dataset.users:
        training = np.arange(len(u)) < len(u) - 2
        keep = ~(training & is_cold[u.items])
        removed += int((~keep).sum())
        if keep.sum() < records.MIN_INTERACTIONS:
            dropped += 1
            continue
        users.append(u if keep.all() else _keep(u, keep))
    return ColdStartSplit(
        dataclasses.replace(dataset, users=tuple(users)),
        cold,
        "seeded",
        {"fraction": fraction, "seed": seed, "interactions_removed": removed, "users_dropped": dropped},
    )


@gin.configurable
def cold_start_split(
    dataset: records.RecDataset,
    protocol: Optional[str] = None,
    *,
    fraction: float = 0.05,
    seed: int = 0,
    max_items_per_seq: int = LIGER_MAX_ITEMS_PER_SEQ,
) -> ColdStartSplit:
    """The protocol chosen in gin (`cold_start_split.protocol = 'liger'`); None: no cold items."""
    if protocol is None:
        return ColdStartSplit(dataset, np.zeros(0, np.int32), "none", {})
    if protocol not in PROTOCOLS:
        raise ValueError(f"cold_start_split.protocol: {protocol!r} is not one of {PROTOCOLS}")
    out = (
        liger_split(dataset, max_items_per_seq)
        if protocol == "liger"
        else seeded_split(dataset, fraction, seed)
    )
    logging.info("cold start (%s): %d cold items, %s", out.protocol, len(out.cold_items), out.info)
    return out


def cold_target_users(dataset: records.RecDataset, split: str, cold_items: np.ndarray) -> np.ndarray:
    """bool [users]: whose `split` target is a cold item."""
    targets = np.array([u.items[-1] for u in dataset.split(split)], np.int64)
    return np.isin(targets, cold_items)


def cold_users(dataset: records.RecDataset, split: str, max_history: int) -> np.ndarray:
    """bool [users]: whose `split` history (the items before its target) has at most `max_history`."""
    return np.array([len(u) - 1 <= max_history for u in dataset.split(split)], bool)


@gin.configurable
def cold_start_dataset(dataset: records.RecDataset) -> records.RecDataset:
    """The dataset as the configured protocol leaves it, for every stage that loads it
    (`load_dataset.transform = @cold_start_dataset`, configs/runs/cold_start_*.gin)."""
    return cold_start_split(dataset).dataset


def unseen_target_items(dataset: records.RecDataset) -> np.ndarray:
    """Sorted ids of the validation / test targets that are in no training part (the cold items of
    a split dataset, recomputed from the dataset alone)."""
    return np.setdiff1d(target_items(dataset), training_items(dataset)).astype(np.int32)
