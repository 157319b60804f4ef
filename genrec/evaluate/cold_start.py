"""Ranking metrics on the cold-start groups, beside everyone's (genrec/datasets/cold_start.py).

Groups of the users of one split (each a boolean mask over `dataset.split(split)`):
  all          every user
  cold_items   users whose target is a cold item (LIGER's "cold_start" rows)
  warm_items   users whose target is not (LIGER's "in_set" rows)
  cold_users   users whose visible history has at most `max_history` items (user cold-start)
Every group's metrics come from the same per-user ranks (protocol.py: full catalogue, ties against
the target), so the groups' rows are comparable and `all` is the users-weighted mean of the
cold_items and warm_items rows.
"""

from __future__ import annotations

from typing import Optional

import gin
import numpy as np

from genrec.datasets import cold_start, records
from genrec.evaluate import full_ranking, protocol
from genrec.evaluate.ranking import SEQUENTIAL_KS, metrics_from_ranks

DEFAULT_MAX_HISTORY = 4  # Beauty 5-core: the test users with the shortest possible history


def group_masks(
    dataset: records.RecDataset,
    split: str,
    cold_items: np.ndarray,
    max_history: Optional[int] = DEFAULT_MAX_HISTORY,
) -> dict[str, np.ndarray]:
    cold_target = cold_start.cold_target_users(dataset, split, cold_items)
    masks = {"all": np.ones(len(cold_target), bool), "cold_items": cold_target, "warm_items": ~cold_target}
    if max_history is not None:
        masks["cold_users"] = cold_start.cold_users(dataset, split, max_history)
    return masks


def metrics_by_group(
    ranks: np.ndarray, masks: dict[str, np.ndarray], depth: int, ks=SEQUENTIAL_KS
) -> dict[str, dict[str, float]]:
    """{group: metrics_from_ranks of its users, plus `users` (its size)}; an empty group has only
    `users` = 0 (no metric is invented for it)."""
    ranks = np.asarray(ranks)
    out = {}
    for name, mask in masks.items():
        if len(mask) != len(ranks):
            raise ValueError(f"group {name!r} masks {len(mask)} users, ranks hold {len(ranks)}")
        out[name] = {"users": int(mask.sum())}
        if mask.any():
            out[name].update(metrics_from_ranks(ranks[mask], depth, ks=ks))
    return out


def flatten(groups: dict[str, dict[str, float]]) -> dict[str, float]:
    """{'cold_items/recall@10': ...}: the groups as one flat metrics row."""
    return {f"{group}/{name}": value for group, row in groups.items() for name, value in row.items()}


def evaluate(
    scorer: full_ranking.Scorer,
    split: cold_start.ColdStartSplit,
    eval_split: str,
    *,
    max_len: int,
    max_history: Optional[int] = DEFAULT_MAX_HISTORY,
    batch_size: int = 512,
    exclude_history: bool = protocol.OFFLINE_DROP_HISTORY,
) -> dict[str, dict[str, float]]:
    """Full-ranking metrics of every group of `eval_split` ('validation' or 'test') of a cold-start
    split, for any scorer full_ranking accepts (exact parallel-digit ranking, SASRec, content)."""
    histories, targets = full_ranking.leave_one_out(split.dataset, eval_split)
    depth = min(max(SEQUENTIAL_KS), split.dataset.num_items)
    _, ranks = full_ranking.rank(
        scorer,
        histories,
        targets,
        k=depth,
        max_len=max_len,
        batch_size=batch_size,
        exclude_history=exclude_history,
    )
    masks = group_masks(split.dataset, eval_split, split.cold_items, max_history)
    return metrics_by_group(ranks, masks, depth)


def configured_rows(
    dataset: records.RecDataset,
    split: str,
    per_user: dict[str, np.ndarray],
    max_history: Optional[int] = DEFAULT_MAX_HISTORY,
    users: Optional[np.ndarray] = None,
) -> dict[str, dict[str, float]]:
    """Results rows per cold-start group ('cold_items', 'warm_items', 'cold_users') from per-user
    NDCG@10 / hit@10 arrays (of the users at indices `users`, default all), when a cold-start
    protocol is configured (`cold_start_split.protocol`); {} otherwise. Cold items are the targets
    in no training part."""
    if not protocol_configured():
        return {}
    return rows_from_per_user(
        dataset, split, per_user, cold_start.unseen_target_items(dataset), max_history, users
    )


def protocol_configured() -> bool:
    """Whether gin names a cold-start protocol (configs/runs/cold_start_*.gin)."""
    try:
        return gin.query_parameter("cold_start_split.protocol") is not None
    except ValueError:
        return False


def example_groups(
    dataset: records.RecDataset,
    split: str,
    examples: list[dict],
    max_history: Optional[int] = DEFAULT_MAX_HISTORY,
) -> dict[str, np.ndarray]:
    """The groups but 'all' as boolean masks over next-item examples of `split`, one per user
    (`user_index`, `target_item`: the beam-search evaluator's sequential tasks), when a cold-start
    protocol is configured; {} otherwise. Cold items are the targets in no training part."""
    if not protocol_configured():
        return {}
    masks = group_masks(dataset, split, cold_start.unseen_target_items(dataset), max_history)
    users = np.array([int(e["user_index"]) for e in examples], np.int64)
    _, split_targets = full_ranking.leave_one_out(dataset, split, users)
    example_targets = np.array([int(e["target_item"]) for e in examples], np.int64)
    wrong = np.flatnonzero(split_targets != example_targets)
    if len(wrong):
        i = wrong[0]
        raise ValueError(
            f"example {i} (user {users[i]}): target item {example_targets[i]} is not the user's "
            f"{split} target {split_targets[i]}; cold-start groups need the split's next-item examples"
        )
    return {group: mask[users] for group, mask in masks.items() if group != "all"}


def rows_from_per_user(
    dataset: records.RecDataset,
    split: str,
    per_user: dict[str, np.ndarray],
    cold_items: np.ndarray,
    max_history: Optional[int] = DEFAULT_MAX_HISTORY,
    users: Optional[np.ndarray] = None,
) -> dict[str, dict[str, float]]:
    """{group: NDCG@10, Recall@10 and `examples`} but 'all', from per-user NDCG@10 / hit@10 arrays of
    the users of `split` (or of its users at indices `users`)."""
    masks = group_masks(dataset, split, cold_items, max_history)
    if users is not None:
        masks = {group: mask[users] for group, mask in masks.items()}
    return {
        group: {
            "ndcg@10": float(per_user["ndcg@10"][mask].mean()) if mask.any() else 0.0,
            "recall@10": float(per_user["hit@10"][mask].mean()) if mask.any() else 0.0,
            "examples": int(mask.sum()),
        }
        for group, mask in masks.items()
        if group != "all"
    }
