"""Beyond-accuracy metrics of top-K lists: coverage, popularity bias, head/tail recall, validity,
and how much of the list repeats the history the model was given.

Popularity = number of training-split interactions of an item. Head items are the top 20% of the
catalogue by that count (ties broken by the lower item id); every other item is tail.
"""

from __future__ import annotations

import math

import numpy as np

from genrec.datasets.records import RecDataset

NO_ITEM = -1  # padding in a top-K list, and what decoding returns for an invalid identifier
HEAD_FRACTION = 0.2


def train_popularity(dataset: RecDataset) -> np.ndarray:
    """int64 [num_items]: interactions of each item in the training split."""
    _, items = dataset.train_matrix_pairs()
    return np.bincount(items, minlength=dataset.num_items).astype(np.int64)


def head_mask(popularity: np.ndarray, fraction: float = HEAD_FRACTION) -> np.ndarray:
    """bool [num_items]: the ceil(fraction * N) most popular items."""
    order = np.argsort(-np.asarray(popularity), kind="stable")
    mask = np.zeros(len(popularity), bool)
    mask[order[: math.ceil(fraction * len(popularity))]] = True
    return mask


def invalid_rate(topk: np.ndarray, num_items: int) -> float:
    """Share of returned slots that name no catalogue item (0 under the trie constraint)."""
    topk = np.asarray(topk)
    return float(((topk < 0) | (topk >= num_items)).mean()) if topk.size else 0.0


def beyond_accuracy(
    topk: np.ndarray, targets: np.ndarray, popularity: np.ndarray, k: int = 10
) -> dict[str, float]:
    """Coverage@k, mean popularity of recommended vs target items, recall@k on head vs tail targets."""
    topk, targets = np.asarray(topk)[:, :k], np.asarray(targets)
    popularity = np.asarray(popularity)
    num_items = len(popularity)
    recommended = topk[(topk >= 0) & (topk < num_items)]
    head = head_mask(popularity)
    hit = (topk == targets[:, None]).any(axis=1)
    target_head = head[targets]
    out = {
        f"coverage@{k}": float(len(np.unique(recommended)) / num_items),
        f"mean_pop_rec@{k}": float(popularity[recommended].mean()) if recommended.size else 0.0,
        "mean_pop_target": float(popularity[targets].mean()),
        "head_target_share": float(target_head.mean()),
    }
    if target_head.any():
        out[f"recall@{k}_head"] = float(hit[target_head].mean())
    if (~target_head).any():
        out[f"recall@{k}_tail"] = float(hit[~target_head].mean())
    return out


def history_repeats(topk: np.ndarray, histories, targets: np.ndarray, k: int = 10) -> dict[str, float]:
    """`target_in_history`: share of targets already in the history the model saw (0 on the Amazon
    5-core sets, where a user reviews an item once); `history@k`: share of the top-k slots holding
    history items. Where the first is 0, the second is recommendation space spent for nothing."""
    topk = np.asarray(topk)[:, :k]
    in_history = in_top = 0
    for row, (history, target) in enumerate(zip(histories, targets)):
        seen = set(np.asarray(history).tolist())
        in_history += int(target) in seen
        in_top += sum(int(i) in seen for i in topk[row])
    return {
        "target_in_history": in_history / max(len(targets), 1),
        f"history@{k}": in_top / max(topk.size, 1),
    }
