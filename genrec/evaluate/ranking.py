"""Top-K ranking metrics under leave-one-out (one held-out target per user)."""
from __future__ import annotations

import numpy as np


def target_ranks(topk: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each target in its top-K list, or K where it is absent. topk: [N, K]."""
    topk = np.asarray(topk)
    hits = topk == np.asarray(targets)[:, None]
    return np.where(hits.any(axis=1), hits.argmax(axis=1), topk.shape[1])


def ranking_metrics(topk: np.ndarray, targets: np.ndarray, ks=(1, 5, 10, 20)) -> dict[str, float]:
    """Recall@k (= HR@k with one target), NDCG@k and MRR (within the top-K list) averaged over users."""
    ranks = target_ranks(topk, targets)
    depth = np.asarray(topk).shape[1]
    out = {}
    for k in ks:
        if k > depth:
            continue
        hit = ranks < k
        out[f"recall@{k}"] = float(hit.mean())
        out[f"ndcg@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0).mean())
    out["mrr"] = float(np.where(ranks < depth, 1.0 / (ranks + 1.0), 0.0).mean())
    return out
