"""Checks and standardisation of the item embeddings every quantizer reads."""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np


def check_embeddings(x: np.ndarray, codebook_size: int, what: str = "item embeddings") -> np.ndarray:
    """float32 [N, D] embeddings, or a ValueError that says what is wrong and where."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{what}: expected a non-empty [num_items, dim] array, got shape {x.shape}")
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        raise ValueError(
            f"{what}: {bad.size} rows hold NaN or inf (items {bad[:10].tolist()}"
            f"{' ...' if bad.size > 10 else ''})"
        )
    if x.shape[0] < codebook_size:
        raise ValueError(
            f"{what}: {x.shape[0]} items are fewer than the {codebook_size} codes per "
            "level; use a smaller codebook_size"
        )
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


def standardizer_arrays(standardizer: Optional[Standardizer], prefix: str = "") -> dict[str, np.ndarray]:
    """{prefix + 'mean', prefix + 'std'}, or nothing for no standardizer."""
    if standardizer is None:
        return {}
    return {f"{prefix}mean": np.asarray(standardizer.mean), f"{prefix}std": np.asarray(standardizer.std)}


def standardizer_from(arrays, prefix: str = "") -> Optional[Standardizer]:
    if f"{prefix}mean" not in arrays:
        return None
    return Standardizer(np.asarray(arrays[f"{prefix}mean"]), np.asarray(arrays[f"{prefix}std"]))


def one_digit_candidates(distances: np.ndarray, count: int) -> np.ndarray:
    """int32 [N, count, M] from per-digit squared distances [N, M, K] (a product code: digit m's
    error is distances[:, m, code]): the nearest tuple first, then the tuples that change one digit,
    by the least increase of the summed distance."""
    n, m, k = distances.shape
    best = distances.argmin(-1)  # [N, M]
    extra = distances - np.take_along_axis(distances, best[..., None], -1)  # [N, M, K] >= 0
    extra[np.arange(n)[:, None], np.arange(m)[None], best] = np.inf  # the nearest tuple comes first
    flat = extra.reshape(n, m * k)
    take = min(count - 1, m * k - m)
    nearest = np.argpartition(flat, take - 1, axis=1)[:, :take] if take else flat[:, :0].astype(np.int64)
    rank = np.argsort(np.take_along_axis(flat, nearest, 1), axis=1, kind="stable")
    order = np.take_along_axis(nearest, rank, 1)  # [N, take] (digit, code) changes, least increase first
    out = np.repeat(best[:, None], take + 1, axis=1)
    rows = np.arange(n)[:, None]
    out[rows, np.arange(1, take + 1)[None], order // k] = order % k
    return out.astype(np.int32)


def last_level_candidates(codes: np.ndarray, last_distances: np.ndarray, count: int) -> np.ndarray:
    """int32 [N, count, L] for a residual code: the levels before the last as chosen, the last level's
    codes nearest first (last_distances [N, K] from the last level's residual)."""
    take = min(count, last_distances.shape[1])
    order = np.argsort(last_distances, axis=1, kind="stable")[:, :take]
    out = np.repeat(np.asarray(codes)[:, None], take, axis=1)
    out[:, :, -1] = order
    return out.astype(np.int32)
