"""Jitted k-means: k-means++ seeding, Lloyd iterations, and an optional balanced assignment.

Used to initialise RQ-VAE codebooks and, level after level on residuals, as RQ-KMeans.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp


def squared_distances(x: jax.Array, centers: jax.Array) -> jax.Array:
    """[N, K] squared Euclidean distances between rows of x [N, D] and centers [K, D]."""
    return jnp.sum(x * x, -1, keepdims=True) - 2.0 * x @ centers.T + jnp.sum(centers * centers, -1)[None, :]


def assign(x: jax.Array, centers: jax.Array) -> jax.Array:
    """Index of the nearest center for every row of x."""
    return jnp.argmin(squared_distances(x, centers), axis=-1)


def balanced_assign(x: jax.Array, centers: jax.Array) -> jax.Array:
    """Nearest center under a capacity of ceil(N / K) points per center.

    Greedy: points whose nearest center is closest choose first; a point whose nearest center is
    full takes its nearest center with room left.
    """
    n, k = x.shape[0], centers.shape[0]
    capacity = -(-n // k)
    d = squared_distances(x, centers)
    order = jnp.argsort(jnp.min(d, axis=-1))

    def pick(counts, i):
        row = jnp.where(counts < capacity, d[i], jnp.inf)
        c = jnp.argmin(row)
        return counts.at[c].add(1), c

    _, chosen = jax.lax.scan(pick, jnp.zeros(k, jnp.int32), order)
    return jnp.zeros(n, jnp.int32).at[order].set(chosen.astype(jnp.int32))


def kmeans_plus_plus(x: jax.Array, k: int, key: jax.Array) -> jax.Array:
    """Greedy k-means++ seeding: each new center is the best (lowest total squared distance) of
    2 + log(k) candidates drawn with probability ∝ squared distance to the nearest center."""
    n = x.shape[0]
    trials = 2 + int(math.log(k))
    key, first = jax.random.split(key)
    centers = jnp.zeros((k, x.shape[1]), x.dtype).at[0].set(x[jax.random.randint(first, (), 0, n)])
    nearest = jnp.sum((x - centers[0]) ** 2, -1)

    def add(carry, i):
        centers, nearest, key = carry
        key, sub = jax.random.split(key)
        total = jnp.sum(nearest)
        # All points already coincide with a center: fall back to a uniform draw.
        p = jnp.where(total > 0, nearest / jnp.where(total > 0, total, 1.0), 1.0 / n)
        candidates = x[jax.random.choice(sub, n, (trials,), p=p)]
        new_nearest = jnp.minimum(nearest[None], squared_distances(x, candidates).T)
        best = jnp.argmin(new_nearest.sum(-1))
        return (centers.at[i].set(candidates[best]), new_nearest[best], key), None

    (centers, _, _), _ = jax.lax.scan(add, (centers, nearest, key), jnp.arange(1, k))
    return centers


@functools.partial(jax.jit, static_argnames=("k", "iters", "balanced"))
def kmeans(
    x: jax.Array, k: int, key: jax.Array, iters: int = 25, balanced: bool = False
) -> tuple[jax.Array, jax.Array]:
    """Lloyd's k-means from k-means++ seeds. Returns (centers [k, D], assignment [N]).

    A center that loses all its points keeps its position (it is never NaN).
    """
    centers = kmeans_plus_plus(x, k, key)
    assign_fn = balanced_assign if balanced else assign

    def step(centers, _):
        a = assign_fn(x, centers)
        onehot = jax.nn.one_hot(a, k, dtype=x.dtype)
        counts = onehot.sum(0)
        sums = onehot.T @ x
        new = jnp.where(counts[:, None] > 0, sums / jnp.maximum(counts, 1)[:, None], centers)
        return new, None

    centers, _ = jax.lax.scan(step, centers, None, length=iters)
    return centers, assign_fn(x, centers)
