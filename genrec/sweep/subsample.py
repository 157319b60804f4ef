"""Training-data fraction for sample-efficiency sweeps: keep the training sequences of a random
subset of users; validation and test keep every user, so every point is scored on the same users.

Bound through the dataset loader (configs/sweeps/train_fraction.gin):
    import genrec.sweep.subsample
    load_dataset.transform = @subsample_train_users
    subsample_train_users.fraction = 0.25
"""

from __future__ import annotations

import dataclasses

import gin
import numpy as np

from genrec.datasets.records import RecDataset, UserHistory


@dataclasses.dataclass(frozen=True)
class TrainUserSubset(RecDataset):
    """A RecDataset whose 'train' split is empty for users outside `train_users`.

    User indices, the item table and the validation/test views are those of the full dataset, so
    the users left out of training are still evaluated (from their history, as new users).
    """

    train_users: frozenset = frozenset()

    def split(self, split: str) -> list[UserHistory]:
        views = super().split(split)
        if split != "train":
            return views
        return [h if u in self.train_users else h.truncated(len(h)) for u, h in enumerate(views)]


def choose_users(num_users: int, fraction: float, seed: int) -> np.ndarray:
    """round(fraction × num_users) user indices (at least 1), the same for the same seed."""
    if not 0 < fraction <= 1:
        raise ValueError(f"subsample_train_users.fraction={fraction}: expected a value in (0, 1]")
    count = max(1, int(round(fraction * num_users)))
    return np.sort(np.random.default_rng(seed).permutation(num_users)[:count])


@gin.configurable
def subsample_train_users(dataset: RecDataset, fraction: float = 1.0, seed: int = 0) -> RecDataset:
    """`dataset` with training sequences kept for `fraction` of its users (all of them at 1.0)."""
    if fraction == 1.0:
        return dataset
    kept = choose_users(len(dataset.users), fraction, seed)
    return TrainUserSubset(dataset.name, dataset.items, dataset.users, train_users=frozenset(kept.tolist()))
