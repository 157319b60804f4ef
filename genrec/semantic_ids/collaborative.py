"""Collaborative indexing (Hua et al., "How to Index Item IDs for Recommendation Foundation
Models", 2023): items that are bought together share code prefixes.

The co-occurrence graph of the TRAINING split (A = BᵀB with B the user × item matrix, zero
diagonal) is split recursively: at each level, each group of items is cut into `branching`
clusters by regularised spectral clustering (top eigenvectors of D^-½ (A + τ/n·11ᵀ) D^-½,
τ = mean degree, rows normalised, k-means). Items with no co-occurrence inside their group are
dealt round-robin over the clusters.

Item vectors from the same graph feed the long identifiers (OPQ, `opq_scheme.embed`) where items
have no text, or beside the text: `cooccurrence_embeddings` (a spectral embedding of the training
co-occurrence graph) and `text_and_cooccurrence_embeddings` (both blocks, each standardised on the
training split's items and weighted to an equal share of the squared norm). Only training
interactions shape them: validation and test targets never enter the graph.
"""

from __future__ import annotations

import logging
import warnings
from typing import Callable, Optional

import gin
import numpy as np
import scipy.cluster.vq
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg

from genrec.datasets import records
from genrec.semantic_ids import embeddings

_DENSE_MAX = 1500  # groups up to this size use a dense eigendecomposition


def cooccurrence(dataset: records.RecDataset) -> scipy.sparse.csr_matrix:
    """Item × item counts of users who interacted with both, in the training split only."""
    users, items = dataset.train_matrix_pairs()
    b = scipy.sparse.csr_matrix(
        (np.ones(len(users), np.float32), (users, items)), shape=(int(users.max()) + 1, dataset.num_items)
    )
    b.data[:] = 1.0  # repeated purchases count once
    a = (b.T @ b).tocsr()
    a.setdiag(0)
    a.eliminate_zeros()
    return a


def spectral_embedding(a: scipy.sparse.csr_matrix, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Row-normalised top-`dim` eigenvectors of the regularised normalised adjacency."""
    n = a.shape[0]
    deg = np.asarray(a.sum(1)).ravel()
    tau = max(deg.mean(), 1e-3)
    inv_sqrt = 1.0 / np.sqrt(deg + tau)
    if n <= _DENSE_MAX:
        m = a.toarray() + tau / n
        m = inv_sqrt[:, None] * m * inv_sqrt[None, :]
        _, vecs = scipy.linalg.eigh(m, subset_by_index=(n - dim, n - 1))
    else:

        def matvec(x):
            x = x.reshape(n, -1)
            y = inv_sqrt[:, None] * x
            return (inv_sqrt[:, None] * (a @ y + tau / n * y.sum(0, keepdims=True))).reshape(x.shape)

        op = scipy.sparse.linalg.LinearOperator((n, n), matvec=matvec, dtype=np.float64)
        _, vecs = scipy.sparse.linalg.eigsh(op, k=dim, which="LA", v0=rng.normal(size=n))
    return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)


def capacity_assign(dist: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Nearest center with room, center c taking at most capacity[c] points; points closest to a
    center choose first (the numpy twin of kmeans.balanced_assign, for groups of many sizes)."""
    counts = np.zeros(dist.shape[1], np.int64)
    labels = np.empty(dist.shape[0], np.int64)
    for i in np.argsort(dist.min(1), kind="stable"):
        c = int(np.argmin(np.where(counts < capacity, dist[i], np.inf)))
        labels[i] = c
        counts[c] += 1
    return labels


def split_group(
    a: scipy.sparse.csr_matrix, branching: int, rng: np.random.Generator, balanced: bool = True
) -> np.ndarray:
    """Cluster label in [0, branching) for every node of the (sub)graph a. Balanced: no cluster
    holds more than ceil(n / branching) nodes, so every level shrinks groups by `branching`."""
    n = a.shape[0]
    if n <= branching:
        return np.arange(n)
    labels = np.empty(n, np.int64)
    isolated = np.asarray(a.sum(1)).ravel() == 0
    labels[isolated] = np.arange(isolated.sum()) % branching
    connected = np.flatnonzero(~isolated)
    if len(connected) > branching:
        emb = spectral_embedding(a[connected][:, connected], min(branching, len(connected) - 1), rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an empty cluster is fine: collisions are resolved later
            centers, labels[connected] = scipy.cluster.vq.kmeans2(emb, branching, minit="++", rng=rng)
        if balanced:
            # Isolated nodes were dealt evenly; the connected ones share what capacity is left.
            room = -(-n // branching) - np.bincount(labels[isolated], minlength=branching)
            dist = ((emb[:, None, :] - centers[None]) ** 2).sum(-1)
            labels[connected] = capacity_assign(dist, room)
    else:
        labels[connected] = np.arange(len(connected))
    return labels


def collaborative_codes(
    dataset: records.RecDataset,
    num_levels: int = 3,
    branching: int = 32,
    seed: int = 0,
    balanced: bool = True,
) -> np.ndarray:
    """int32 [num_items, num_levels] codes from recursive spectral clustering."""
    if dataset.num_items < branching:
        raise ValueError(
            f"collaborative indexing: {dataset.num_items} items are fewer than the "
            f"{branching} codes per level; use a smaller branching"
        )
    rng = np.random.default_rng(seed)
    a = cooccurrence(dataset)
    codes = np.zeros((dataset.num_items, num_levels), np.int32)
    groups = [np.arange(dataset.num_items)]
    for level in range(num_levels):
        next_groups = []
        for members in groups:
            labels = split_group(a[members][:, members], branching, rng, balanced)
            codes[members, level] = labels
            next_groups += [members[labels == c] for c in range(branching) if (labels == c).sum() > 1]
        logging.info("collaborative level %d: %d groups with more than one item", level, len(next_groups))
        groups = next_groups
    return codes


@gin.configurable
def cooccurrence_embeddings(
    dataset: records.RecDataset, cache_dir: Optional[str] = None, dim: int = 128, seed: int = 0
) -> np.ndarray:
    """float32 [num_items, dim]: the spectral embedding (`spectral_embedding`) of the training
    split's item co-occurrence graph; an item absent from training gets the regulariser's vector.
    cache_dir is unused (the embedding takes seconds to minutes, and depends on the split)."""
    del cache_dir
    dim = min(dim, dataset.num_items - 1)
    vectors = spectral_embedding(cooccurrence(dataset).astype(np.float64), dim, np.random.default_rng(seed))
    return vectors.astype(np.float32)


def training_items(dataset: records.RecDataset) -> np.ndarray:
    """The ids of the items that occur in the training split."""
    return np.unique(dataset.train_matrix_pairs()[1])


def balanced_blocks(blocks: list[np.ndarray], fit_rows: np.ndarray, weights: tuple[float, ...]) -> np.ndarray:
    """Blocks concatenated after standardising each column on `fit_rows` and scaling block b by
    sqrt(weights[b] / its width), so each block's expected squared norm is its weight."""
    out = []
    for block, weight in zip(blocks, weights):
        block = np.asarray(block, np.float64)
        mean, std = block[fit_rows].mean(0), block[fit_rows].std(0)
        block = (block - mean) / np.where(std > 1e-8, std, 1.0)
        out.append(block * np.sqrt(weight / block.shape[1]))
    return np.concatenate(out, axis=1).astype(np.float32)


@gin.configurable
def text_and_cooccurrence_embeddings(
    dataset: records.RecDataset,
    cache_dir: Optional[str] = None,
    text_embed: Callable[..., np.ndarray] = embeddings.item_embeddings,
    text_weight: float = 1.0,
    collaborative_weight: float = 1.0,
) -> np.ndarray:
    """float32 [num_items, D_text + D_collab]: the text embedding beside `cooccurrence_embeddings`,
    balanced by `balanced_blocks` on the training split's items (bind OPQConfig.standardize = False
    so OPQ keeps the balance)."""
    text_vectors = text_embed(dataset, cache_dir=cache_dir)
    return balanced_blocks(
        [text_vectors, cooccurrence_embeddings(dataset)],
        training_items(dataset),
        (text_weight, collaborative_weight),
    )
