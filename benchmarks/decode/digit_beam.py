"""Trie-constrained beam search over the parallel-digit model's digits: what a beam loses against exact
ranking (benchmarks/decode/beam_vs_exact.py measures it; genrec ranks exactly and never uses it)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def constrained_digit_beam(log_probs: jax.Array, trie, beam_size: int) -> tuple[jax.Array, jax.Array]:
    """Trie-constrained beam search over the digits in order (genrec/model/trie.py, built on the item
    codes): [B, M, K] per-digit log-probs → (item ids [B, beam], scores [B, beam]) best first; -1 and
    -inf fill a beam the catalogue cannot. Unlike parallel_ids.top_digit_tuples this is not exact: a
    prefix that leads to few items can crowd out one that leads to the best item."""
    b = log_probs.shape[0]
    nodes = jnp.zeros((b, 1), jnp.int32)
    scores = jnp.zeros((b, 1), log_probs.dtype)
    for digit in range(trie.depth):
        children, valid = trie.children(nodes)  # [B, beam, width]
        codes = jnp.maximum(trie.node_token[children], 0).reshape(b, -1)
        gain = jnp.take_along_axis(log_probs[:, digit], codes, axis=1).reshape(children.shape)
        cand = jnp.where(valid, scores[..., None] + gain, -jnp.inf).reshape(b, -1)
        scores, flat = jax.lax.top_k(cand, min(beam_size, cand.shape[1]))
        nodes = jnp.take_along_axis(children.reshape(b, -1), flat, axis=1)
    return jnp.where(scores > -jnp.inf, trie.node_item[nodes], -1), scores
