"""Exact full ranking for models whose item score decomposes over identifier digits.

The parallel-digit model (genrec/model/parallel_ids.py) gives per-digit log-probabilities of the
next item; an item's score is the sum over its digits, so every catalogue item is scored exactly
(one gather, then top-k) — no beam, no invalid items. Histories, targets, history exclusion, ties
and metrics are those of genrec/evaluate/full_ranking.py (genrec/evaluate/protocol.py), so these
rows and the SASRec rows rank the same users the same way.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from genrec.evaluate import full_ranking
from genrec.evaluate import data_parallel, protocol
from genrec.model import parallel_ids

EVAL_BATCH = 128  # users per call: the [B, N, M] gather of Beauty's 12k x 33 digits stays ~200 MB


def bos_first(tokens: jax.Array) -> jax.Array:
    """Left-padded histories [B, T] (full_ranking's layout) → [B, T + 1]: begin-of-sequence 0, the
    items oldest first, then padding (the parallel-digit model's layout)."""
    t = tokens.shape[1]
    n = (tokens > 0).sum(axis=1)
    slot = jnp.arange(t + 1)[None]
    source = jnp.clip(slot - 1 + (t - n)[:, None], 0, t - 1)
    items = jnp.take_along_axis(tokens, source, axis=1)
    return jnp.where((slot >= 1) & (slot <= n[:, None]), items, 0)


def history_log_probs(model, token_codes: jax.Array, tokens: jax.Array) -> jax.Array:
    """Left-padded histories [B, T] → per-digit log-probabilities [B, M, K] of each user's next item
    (token_codes: parallel_ids.token_code_table of the catalogue)."""
    tokens = bos_first(tokens)
    return model.next_item_log_probs(jnp.take(token_codes, tokens, axis=0), tokens)


@nnx.jit
def _scores(model, token_codes, item_codes, tokens):
    return parallel_ids.item_scores(history_log_probs(model, token_codes, tokens), item_codes)


def scorer(model: parallel_ids.ParallelIdDecoder, codes: np.ndarray) -> full_ranking.Scorer:
    """full_ranking's Scorer (left-padded tokens → [B, num_items] scores) for `model` and the item
    code table `codes` [num_items, M]; bound, so full_ranking splits its users over the mesh."""
    return data_parallel.Bound(_scores, (model, parallel_ids.token_code_table(codes), jnp.asarray(codes, jnp.int32)))


def evaluate(model: parallel_ids.ParallelIdDecoder, codes: np.ndarray, dataset, split: str, *,
             exclude_history: bool = protocol.OFFLINE_DROP_HISTORY, batch_size: int = EVAL_BATCH,
             beyond: bool = False) -> dict[str, float]:
    """Ranking metrics of every user of `split`, every item scored exactly (`beyond`: and the
    coverage and popularity of the top 10)."""
    return full_ranking.evaluate(scorer(model, codes), dataset, split, max_len=model.config.max_len,
                                 batch_size=batch_size, exclude_history=exclude_history, beyond=beyond)
