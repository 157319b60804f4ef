"""Most-popular: every user gets the items bought most often in the training split."""

from __future__ import annotations

import time

import jax.numpy as jnp
import numpy as np

from genrec.datasets.records import RecDataset
from genrec.evaluate import full_ranking, protocol


def item_counts(dataset: RecDataset) -> np.ndarray:
    """[num_items] interactions per item in split('train') (validation/test targets unseen)."""
    _, items = dataset.train_matrix_pairs()
    return np.bincount(items, minlength=dataset.num_items)


def popularity_scorer(counts: np.ndarray) -> full_ranking.Scorer:
    table = jnp.asarray(counts, jnp.float32)
    return lambda tokens: jnp.broadcast_to(table, (tokens.shape[0], table.shape[0]))


def run_most_popular(
    dataset: RecDataset, *, max_len: int = 50, exclude_history: bool = protocol.OFFLINE_DROP_HISTORY
) -> dict:
    start = time.time()
    scorer = popularity_scorer(item_counts(dataset))
    metrics = {
        split: full_ranking.evaluate(scorer, dataset, split, max_len=max_len, exclude_history=exclude_history)
        for split in ("validation", "test")
    }
    return {
        "name": "most-popular",
        "dataset": dataset.name,
        "metrics": metrics,
        "cost": {"epochs": 0, "steps": 0, "train_wall_s": 0.0, "wall_s": time.time() - start},
        "config": {"exclude_history": exclude_history},
        "protocol": protocol.describe(exclude_history),
    }
