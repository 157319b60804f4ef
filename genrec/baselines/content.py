"""Content-only recommender: history-to-item text similarity, no interaction is learned.

A user's profile is a recency-weighted mean of the unit text embeddings of the items in the history
(weight decay**age, age 0 for the newest item); every catalogue item scores its cosine with the
profile. It needs only item text, so a cold item (no training interaction) is scored exactly like a
warm one: the reference point for item cold-start (genrec/datasets/cold_start.py). The scorer follows
genrec/evaluate/full_ranking.py (left-padded tokens, item i = token i + 1, 0 = padding → [B, N]).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def scorer(item_embeddings: np.ndarray, decay: float = 1.0):
    """tokens [B, T] (left-padded) → cosine scores [B, num_items]; decay 1.0: the plain mean."""
    table = jnp.asarray(
        np.concatenate([np.zeros((1, item_embeddings.shape[1]), np.float32), unit_rows(item_embeddings)])
    )

    @jax.jit
    def score(tokens: jax.Array) -> jax.Array:
        t = tokens.shape[1]
        age = jnp.arange(t - 1, -1, -1, dtype=jnp.float32)[None, :]  # left-padded: the newest is last
        weight = jnp.where(tokens > 0, jnp.asarray(decay, jnp.float32) ** age, 0.0)
        profile = jnp.einsum("bt,btd->bd", weight, table[tokens])
        profile = profile / jnp.maximum(jnp.linalg.norm(profile, axis=-1, keepdims=True), 1e-12)
        return profile @ table[1:].T

    return score
