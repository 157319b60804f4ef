"""Token cross-entropy with T5's z-loss (keeps log Z near 0 so bf16 logits stay well scaled)."""
from __future__ import annotations

import jax
import jax.numpy as jnp


def cross_entropy_with_z_loss(logits: jax.Array, targets: jax.Array, weights: jax.Array,
                              z_loss: float = 0.0) -> tuple[jax.Array, jax.Array, jax.Array]:
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


def digit_and_in_batch_item_loss(num_negatives: int, item_weight: float = 1.0):
    """The parallel-digit model's per-digit cross-entropy plus an item-level term that ranks the
    next item against other items, all named by their digits (no per-item parameters).

    An item's score is the sum of its digits' log-probabilities (exactly what evaluation ranks by).
    The item term is the softmax cross-entropy of the target's score against `num_negatives` other
    targets of the same batch (positions spread evenly over the flattened batch; padding and copies
    of the target item are masked), so the model learns the catalogue ranking directly rather than
    only each digit's marginal. logits [..., M, K], targets [..., M], weights [..., 1]; returns
    cross_entropy_with_z_loss's triple with the item term added to the summed loss.
    """
    if num_negatives <= 0:
        raise ValueError(f"num_negatives={num_negatives}; must be positive")

    def loss_fn(logits, targets, weights, z_loss=0.0):
        total, z_term, weight_sum = cross_entropy_with_z_loss(logits, targets, weights, z_loss)
        m, k = logits.shape[-2:]
        log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1).reshape(-1, m * k)  # [P, M*K]
        codes = targets.reshape(-1, m).astype(jnp.int32)  # [P, M]
        w = weights.reshape(-1).astype(jnp.float32)  # [P]
        picked = jnp.linspace(0, codes.shape[0] - 1, min(num_negatives, codes.shape[0])).astype(jnp.int32)
        offsets = (jnp.arange(m) * k)[None, :]
        positive = jnp.take_along_axis(log_probs, codes + offsets, axis=1).sum(axis=1)  # [P]
        neg_codes = codes[picked]  # [S, M]
        negative = jnp.take(log_probs, (neg_codes + offsets).reshape(-1), axis=1)
        negative = negative.reshape(-1, len(picked), m).sum(axis=-1)  # [P, S]
        same_item = jnp.all(codes[:, None, :] == neg_codes[None, :, :], axis=-1)
        negative = jnp.where(same_item | (w[picked] <= 0)[None, :], -1e9, negative)  # finite: no NaN grads
        log_z = jnp.logaddexp(positive, jax.nn.logsumexp(negative, axis=1))
        return total + item_weight * jnp.sum((log_z - positive) * w), z_term, weight_sum

    return loss_fn
