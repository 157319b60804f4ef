"""Group-relative policy optimisation (GRPO, Shao et al. 2024) on item identifiers: rewards of a
sampled group, their group-normalised advantages, and the clipped-ratio loss with a KL penalty.

Everything works on token-level arrays so the same code serves every generative model: a sample is
an identifier of L tokens (the encoder-decoder's tokens, or the parallel-digit model's digits), and
its log-probability under a policy is the sum of its tokens' log-probabilities.

Shapes: B users, K samples per user (the group), L tokens per identifier.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp

REWARDS = ("hit", "reciprocal_rank", "ndcg", "valid")


def list_ranks(log_likelihood: jax.Array) -> jax.Array:
    """[B, K] sample log-likelihoods → 1-based rank of each sample in its group's list, best first
    (the list a user would see: the group sorted by the policy's score); ties rank pessimistically
    (a sample ranks below every other sample with an equal score)."""
    ahead = log_likelihood[:, None, :] >= log_likelihood[:, :, None]  # [B, j, j']: j' at or above j
    return ahead.sum(-1)  # counts j itself, so the best sample has rank 1


def rewards(
    samples: jax.Array,
    targets: jax.Array,
    valid: jax.Array,
    log_likelihood: jax.Array,
    weights: Mapping[str, float],
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The weighted sum of the named rewards of each sample, and each reward's [B, K] values.

    samples [B, K, L], targets [B, L] (the held-in next item's identifier), valid [B, K] (the sample
    names a catalogue item), log_likelihood [B, K] (orders the sampled list).
      hit              1 if the sample is the target
      reciprocal_rank  hit / rank of the sample in the sampled list
      ndcg             hit / log2(1 + rank): the sample's contribution to the list's NDCG
      valid            1 if the sample is a catalogue item (the validity reward of unconstrained
                       sampling; constant 1 under a trie)
    """
    check_rewards(weights)
    dtype = log_likelihood.dtype
    hit = jnp.all(samples == targets[:, None, :], axis=-1).astype(dtype)
    rank = list_ranks(log_likelihood).astype(dtype)
    parts = {
        "hit": hit,
        "reciprocal_rank": hit / rank,
        "ndcg": hit / jnp.log2(1.0 + rank),
        "valid": valid.astype(dtype),
    }
    total = sum(float(w) * parts[name] for name, w in weights.items())
    return total, parts


def check_rewards(weights: Mapping[str, float]) -> None:
    if not weights or set(weights) - set(REWARDS):
        raise ValueError(f"rl rewards {dict(weights)}: names must be a non-empty subset of {REWARDS}")


def group_advantages(rewards: jax.Array, eps: float = 1e-4) -> jax.Array:
    """[B, K] rewards → (r - mean of the group) / (std of the group + eps); 0 where a group's
    rewards are all equal (nothing to prefer)."""
    mean = rewards.mean(axis=-1, keepdims=True)
    std = rewards.std(axis=-1, keepdims=True)
    return (rewards - mean) / (std + eps)


def kl_to_reference(log_probs: jax.Array, ref_log_probs: jax.Array) -> jax.Array:
    """Per-token estimate of KL(policy || reference) at tokens sampled from the policy (the "k3"
    estimator GRPO uses): exp(d) - d - 1 with d = log p_ref - log p. Non-negative, 0 iff equal; d is
    clipped to [-20, 20] so a token the policy has all but ruled out cannot overflow it."""
    d = jnp.clip(ref_log_probs - log_probs, -20.0, 20.0)
    return jnp.exp(d) - d - 1.0


def contested(samples: jax.Array) -> jax.Array:
    """[B, K, L] → [B, 1, L]: token positions where a group's samples differ. Where all K agree,
    the advantage-weighted terms cancel exactly (advantages sum to zero); leaving them out of the
    policy-gradient term keeps float noise there from being amplified into steps by Adam (the
    collision digit, 0 for almost every item, would otherwise drift)."""
    return ~jnp.all(samples == samples[:, :1], axis=1, keepdims=True)


def loss(
    log_probs: jax.Array,
    old_log_probs: jax.Array,
    ref_log_probs: jax.Array,
    advantages: jax.Array,
    mask: jax.Array,
    *,
    clip_epsilon: float,
    kl_coef: float,
    pg_mask: jax.Array | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The GRPO objective to minimise and its diagnostics.

    log_probs / old_log_probs / ref_log_probs [B, K, L]: each sampled token's log-probability under
    the policy being trained, the policy that sampled it and the frozen reference; advantages
    [B, K]; mask [B, K, L] (1 for tokens that count); pg_mask (broadcast to [B, K, L], default all
    1): tokens whose clipped-ratio term counts (`contested`). Per token:
        -(min(rho * A, clip(rho, 1 - eps, 1 + eps) * A) - kl_coef * KL),  rho = p / p_old,
    averaged over a sample's tokens, then over the samples and users of the batch."""
    mask = mask.astype(log_probs.dtype)
    ratio = jnp.exp(log_probs - old_log_probs)
    adv = advantages[..., None]
    surrogate = jnp.minimum(ratio * adv, jnp.clip(ratio, 1.0 - clip_epsilon, 1.0 + clip_epsilon) * adv)
    if pg_mask is not None:
        surrogate = jnp.where(pg_mask, surrogate, 0.0)
    kl = kl_to_reference(log_probs, ref_log_probs)
    per_token = -(surrogate - kl_coef * kl) if kl_coef else -surrogate
    tokens = jnp.maximum(mask.sum(-1), 1.0)
    per_sample = (per_token * mask).sum(-1) / tokens
    clipped = (jnp.abs(ratio - 1.0) > clip_epsilon) & (mask > 0)
    metrics = {
        "kl": ((kl * mask).sum(-1) / tokens).mean(),
        "clip_fraction": clipped.sum() / jnp.maximum(mask.sum(), 1.0),
    }
    return per_sample.mean(), metrics


def sequence_log_likelihood(token_log_probs: jax.Array, mask: jax.Array) -> jax.Array:
    """[B, K, L] → [B, K]: the identifier's log-probability (sum over its counted tokens)."""
    return jnp.sum(jnp.where(mask > 0, token_log_probs, 0.0), axis=-1)


def entropy(log_probs: jax.Array, axis: int = -1) -> jax.Array:
    """Shannon entropy (nats) of distributions given as log-probabilities along `axis`."""
    p = jnp.exp(log_probs)
    return -jnp.sum(jnp.where(p > 0, p * log_probs, 0.0), axis=axis)


def check_settings(group_size: int, clip_epsilon: float, kl_coef: float) -> None:
    if group_size < 2:
        raise ValueError(f"rl group_size={group_size}: a group needs at least 2 samples to compare")
    if not 0 < clip_epsilon < 1:
        raise ValueError(f"rl clip_epsilon={clip_epsilon}: must be in (0, 1)")
    if kl_coef < 0:
        raise ValueError(f"rl kl_coef={kl_coef}: must be >= 0")
