"""Token cross-entropy with T5's z-loss (keeps log Z near 0 so bf16 logits stay well scaled)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def cross_entropy_with_z_loss(
    logits: jax.Array, targets: jax.Array, weights: jax.Array, z_loss: float = 0.0
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Weighted sums over all tokens (divide by `weight_sum` for a mean).

    Per token: loss = logsumexp(logits) - logits[target] + z_loss * logsumexp(logits)**2.
    logits [..., V]; targets [...] int; weights [...] (0 on padding).
    Returns (total loss incl. the z term, total z term, weight sum), all float32 scalars.
    """
    logits = logits.astype(jnp.float32)
    weights = weights.astype(jnp.float32)
    log_z = jax.nn.logsumexp(logits, axis=-1)
    target_logit = jnp.take_along_axis(logits, targets[..., None].astype(jnp.int32), axis=-1)[..., 0]
    z_term = z_loss * jnp.square(log_z)
    total = jnp.sum((log_z - target_logit + z_term) * weights)
    return total, jnp.sum(z_term * weights), jnp.sum(weights)


def digit_and_catalogue_loss(item_weight: float):
    """The parallel-digit model's loss with its catalogue term (`ParallelIdConfig.catalogue_loss_weight`):
    outputs = (digit logits [..., M, K], per-position catalogue NLL [...]); returns
    cross_entropy_with_z_loss's triple with `item_weight` x the weighted NLL sum added."""

    def loss_fn(outputs, targets, weights, z_loss=0.0):
        logits, item_nll = outputs
        total, z_term, weight_sum = cross_entropy_with_z_loss(logits, targets, weights, z_loss)
        item = jnp.sum(item_nll.astype(jnp.float32) * weights.reshape(item_nll.shape).astype(jnp.float32))
        return total + item_weight * item, z_term, weight_sum

    return loss_fn
