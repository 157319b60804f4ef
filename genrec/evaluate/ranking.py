"""Top-K ranking metrics under leave-one-out (one held-out target per user).

Recall@k equals HR@k here (one relevant item per user). Ranks are 0-based; a target that is not in
the list gets rank = list depth and counts as a miss at every cutoff. Where scores are known, ties
count against the target (protocol.pessimistic_ranks).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from genrec.evaluate import protocol

SEQUENTIAL_KS = (1, 5, 10, 20)  # full-catalogue ranking (NDCG@1 == Recall@1, reported anyway)
DIRECT_KS = (1, 5, 10)  # ranking the ~100 sampled candidates of the direct family


def target_ranks(topk: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each target in its top-K list, or K where it is absent. topk: [N, K]."""
    topk = np.asarray(topk)
    hits = topk == np.asarray(targets)[:, None]
    return np.where(hits.any(axis=1), hits.argmax(axis=1), topk.shape[1])


def metrics_from_ranks(ranks: np.ndarray, depth: int, ks=SEQUENTIAL_KS) -> dict[str, float]:
    """Recall@k, NDCG@k (k <= depth) and MRR (ranks >= depth count 0) averaged over users."""
    ranks = np.asarray(ranks, np.float64)
    out = {}
    for k in ks:
        if k > depth:
            continue
        hit = ranks < k
        out[f"recall@{k}"] = float(hit.mean())
        out[f"ndcg@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0).mean())
    out["mrr"] = float(np.where(ranks < depth, 1.0 / (ranks + 1.0), 0.0).mean())
    return out


def list_ranks(topk: np.ndarray, scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each target among its list's scores (ties against it), K where it is absent.
    topk, scores: [N, K] (NO_ITEM slots score -inf)."""
    scores = np.asarray(scores, np.float64)
    hit = np.asarray(topk) == np.asarray(targets)[:, None]
    return protocol.pessimistic_ranks(scores, np.where(hit, scores, -np.inf).max(axis=1))


def ranking_metrics(
    topk: np.ndarray, targets: np.ndarray, ks=SEQUENTIAL_KS, scores: Optional[np.ndarray] = None
) -> dict[str, float]:
    """Recall@k (= HR@k with one target), NDCG@k and MRR (within the top-K list) averaged over users;
    with the list's `scores`, ties count against the target, else list positions are ranks."""
    ranks = target_ranks(topk, targets) if scores is None else list_ranks(topk, scores, targets)
    return metrics_from_ranks(ranks, np.asarray(topk).shape[1], ks)


def candidate_ranks(scores: np.ndarray, target_index: np.ndarray) -> np.ndarray:
    """0-based rank of the target among scored candidates, ties counted against it
    (protocol.pessimistic_ranks). scores: [N, C] (higher is better); target_index: [N], the target's
    column."""
    scores = np.asarray(scores, np.float64)
    return protocol.pessimistic_ranks(scores, scores[np.arange(len(scores)), np.asarray(target_index)])


def candidate_metrics(scores: np.ndarray, target_index: np.ndarray, ks=DIRECT_KS) -> dict[str, float]:
    """HR@k (named recall@k), NDCG@k and MRR of the target among the candidates."""
    return metrics_from_ranks(candidate_ranks(scores, target_index), np.asarray(scores).shape[1], ks)
