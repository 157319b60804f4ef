"""Next-item losses over hidden states h [..., d] and the item embedding table E [num_items, d].

Both return the weighted mean over positions (weights are 1 for real positions, 0 for padding).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _weighted_mean(per_position: jax.Array, weights: jax.Array) -> jax.Array:
    return (per_position * weights).sum() / jnp.maximum(weights.sum(), 1.0)


def softmax_cross_entropy(hidden, item_emb, targets, weights) -> jax.Array:
    """Full-softmax CE over every item: -log softmax(h E^T)[target] (the strong SASRec variant)."""
    logits = jnp.einsum("...d,nd->...n", hidden, item_emb).astype(jnp.float32)
    log_z = jax.nn.logsumexp(logits, axis=-1)
    target_logit = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    return _weighted_mean(log_z - target_logit, weights)


def sampled_bce(hidden, item_emb, targets, negatives, weights) -> jax.Array:
    """SASRec's original loss: -log σ(<h, e_pos>) - log(1 - σ(<h, e_neg>)), one negative each."""
    pos = jnp.einsum("...d,...d->...", hidden, item_emb[targets]).astype(jnp.float32)
    neg = jnp.einsum("...d,...d->...", hidden, item_emb[negatives]).astype(jnp.float32)
    return _weighted_mean(-jax.nn.log_sigmoid(pos) - jax.nn.log_sigmoid(-neg), weights)


def sampled_softmax(hidden, item_emb, targets, negatives, weights) -> jax.Array:
    """Softmax over the target and K negatives shared by every position (eSASRec's loss):
    -log e^{<h, e_t>} / (e^{<h, e_t>} + sum_k e^{<h, e_k>}), a negative equal to the position's
    target left out. negatives: [K] item ids drawn uniformly (a constant proposal: no log-Q term)."""
    pos = jnp.einsum("...d,...d->...", hidden, item_emb[targets]).astype(jnp.float32)
    neg = jnp.einsum("...d,kd->...k", hidden, item_emb[negatives]).astype(jnp.float32)
    neg = jnp.where(negatives == targets[..., None], -jnp.inf, neg)
    log_z = jax.nn.logsumexp(jnp.concatenate([pos[..., None], neg], axis=-1), axis=-1)
    return _weighted_mean(log_z - pos, weights)


def position_capacity(real_positions: int, all_positions: int, smallest: int = 256) -> int:
    """The static number of positions a compacted batch keeps: the next power of two (at least
    `smallest`) that holds every real position, at most all of them. Few distinct values, so the
    training step compiles a handful of times."""
    capacity = smallest
    while capacity < real_positions:
        capacity *= 2
    return min(capacity, all_positions)


def compact_positions(hidden, targets, negatives, weights, capacity: int):
    """The real positions (weight > 0) of a padded batch, flattened into `capacity` slots: hidden
    [C, d], targets [C], per-position negatives [C] (shared ones [K] pass through), weights [C] (0 on
    the unused slots). Every loss above is then the same weighted mean over fewer rows, so the full
    softmax scores only real positions; `capacity` must be at least the number of real positions."""
    real = weights.reshape(-1) > 0
    idx = jnp.nonzero(real, size=capacity, fill_value=0)[0]
    used = jnp.arange(capacity) < real.sum()
    if negatives.shape == targets.shape:
        negatives = negatives.reshape(-1)[idx]
    return (
        hidden.reshape(-1, hidden.shape[-1])[idx],
        targets.reshape(-1)[idx],
        negatives,
        jnp.where(used, weights.reshape(-1)[idx], 0.0),
    )
