"""Checks and standardisation of the item embeddings every quantizer reads."""
from __future__ import annotations

import dataclasses

import numpy as np


def check_embeddings(x: np.ndarray, codebook_size: int, what: str = "item embeddings") -> np.ndarray:
    """float32 [N, D] embeddings, or a ValueError that says what is wrong and where."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{what}: expected a non-empty [num_items, dim] array, got shape {x.shape}")
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        raise ValueError(f"{what}: {bad.size} rows hold NaN or inf (items {bad[:10].tolist()}"
                         f"{' ...' if bad.size > 10 else ''})")
    if x.shape[0] < codebook_size:
        raise ValueError(f"{what}: {x.shape[0]} items are fewer than the {codebook_size} codes per "
                         "level; use a smaller codebook_size")
    return x.astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Standardizer:
    """Per-dimension zero mean / unit variance (a constant dimension is only centred)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> "Standardizer":
        std = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(std > 1e-8, std, 1.0).astype(np.float32))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)
