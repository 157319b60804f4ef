"""What GRPO needs from a generative model, for each model genrec trains: draw a group of
identifiers per user on device, and give each sampled token's log-probability.

A policy works on a batch of users (`rl_data.py`: histories and the held-in next item) and a model
module with its parameters bound. Samples are identifiers [B, K, L]: the parallel-digit model's
digits, or the encoder-decoder's identifier tokens; `valid` [B, K] says which name a catalogue item.

  constrained    the group is drawn from the catalogue only. Parallel-digit: K distinct items
                 without replacement, p(item) ∝ exp(score / temperature) with score the sum of its
                 digits' log-probabilities (Gumbel top-K over the exact scores). Encoder-decoder:
                 K ancestral samples along the identifier trie (`decoding.sample`).
  unconstrained  every token is drawn from the model's full distribution (the parallel-digit
                 model: each digit on its own; the encoder-decoder: each token given the sampled
                 prefix, from the whole vocabulary), so a sample may name no item; the validity
                 reward is what teaches the model to avoid that.

Both report the sampled tokens' log-probabilities from the sampling pass itself, so a step runs one
forward pass of the policy fewer; `token_log_probs` recomputes them with gradients (the encoder-
decoder by teacher forcing through its incremental decoder: one encoder pass per user, shared by its K
samples).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from genrec.model import decoding, parallel_ids
from genrec.model.trie import Trie
from genrec.train import grpo


def catalogue_lookup(item_codes: jax.Array, samples: jax.Array) -> jax.Array:
    """Item index of each sampled identifier, -1 where it names no item. item_codes [N, L] (distinct
    rows), samples [..., L]. Rows are hashed to sort keys once; a sample is found by binary search on
    its hash and confirmed digit by digit, so a hash collision can never make an invalid sample valid."""
    keys = _hash(item_codes)
    order = jnp.argsort(keys)
    sorted_keys = keys[order]
    h = _hash(samples)
    at = jnp.clip(jnp.searchsorted(sorted_keys, h), 0, item_codes.shape[0] - 1)
    item = order[at]
    same = jnp.all(item_codes[item] == samples, axis=-1)
    return jnp.where(same, item, -1).astype(jnp.int32)


def _hash(codes: jax.Array) -> jax.Array:
    """[..., L] int → [...] uint32 (FNV-1a over the digits)."""
    h = jnp.full(codes.shape[:-1], 2166136261, jnp.uint32)
    for i in range(codes.shape[-1]):
        h = (h ^ codes[..., i].astype(jnp.uint32)) * jnp.uint32(16777619)
    return h


@dataclasses.dataclass(frozen=True)
class ParallelIdPolicy:
    """The parallel-digit model as a policy over item identifiers (its digits)."""

    item_codes: np.ndarray  # [num_items, M]

    def _log_probs(self, model: parallel_ids.ParallelIdDecoder, batch: dict) -> jax.Array:
        tokens = batch["decoder_input_tokens"]  # [B, T]: begin-of-sequence 0, items + 1, padding
        table = parallel_ids.token_code_table(self.item_codes)
        return model.next_item_log_probs(jnp.take(table, tokens, axis=0), tokens)  # [B, M, K]

    def targets(self, batch: dict) -> jax.Array:
        """[B, M]: the held-in next item's digits."""
        return jnp.asarray(self.item_codes, jnp.int32)[
            jnp.maximum(batch["decoder_target_tokens"][:, 0] - 1, 0)
        ]

    def sample(
        self, model, batch: dict, key: jax.Array, *, group_size: int, constrained: bool, temperature: float
    ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        """(samples [B, K, M], valid [B, K], each sampled digit's log-probability under `model`
        [B, K, M], the mean per-digit entropy [B]): one forward pass draws and scores the group."""
        log_probs = self._log_probs(model, batch)
        codes = jnp.asarray(self.item_codes, jnp.int32)
        if constrained:
            scores = parallel_ids.item_scores(log_probs, codes) / temperature  # [B, N]
            gumbel = jax.random.gumbel(key, scores.shape, scores.dtype)
            _, items = jax.lax.top_k(scores + gumbel, group_size)  # K distinct items
            samples, valid = codes[items], jnp.ones(items.shape, bool)
        else:
            b, m, k = log_probs.shape
            logits = jnp.broadcast_to(log_probs[:, None] / temperature, (b, group_size, m, k))
            samples = jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)  # [B, K, M]
            valid = catalogue_lookup(codes, samples) >= 0
        return samples, valid, _picked(log_probs, samples), grpo.entropy(log_probs).mean(-1)

    def token_log_probs(self, model, batch: dict, samples: jax.Array) -> jax.Array:
        """The log-probability of each sampled digit [B, K, M] under `model`."""
        return _picked(self._log_probs(model, batch), samples)

    def token_mask(self, samples: jax.Array) -> jax.Array:
        return jnp.ones(samples.shape, jnp.float32)


@dataclasses.dataclass(frozen=True)
class EncoderDecoderPolicy:
    """The encoder-decoder as a policy over item identifiers (its identifier tokens)."""

    item_tokens: np.ndarray  # [num_items, L] each item's identifier token ids
    trie: Trie  # of item_tokens

    def targets(self, batch: dict) -> jax.Array:
        """[B, L]: the held-in next item's identifier tokens."""
        return jnp.asarray(self.item_tokens, jnp.int32)[batch["target_item"]]

    def sample(
        self, model, batch: dict, key: jax.Array, *, group_size: int, constrained: bool, temperature: float
    ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        """(samples [B, K, L], valid [B, K], each sampled token's log-probability [B, K, L], the
        mean next-token entropy [B]) from one incremental decoding pass per user."""
        out = decoding.sample(
            model,
            batch["encoder_input_tokens"],
            key,
            num_samples=group_size,
            trie=self.trie if constrained else None,
            length=self.item_tokens.shape[1],
            temperature=temperature,
        )
        if constrained:
            valid = out.items >= 0
        else:
            valid = catalogue_lookup(jnp.asarray(self.item_tokens, jnp.int32), out.tokens) >= 0
        return out.tokens, valid, out.log_probs, out.entropy.mean(-1)

    def token_log_probs(self, model, batch: dict, samples: jax.Array) -> jax.Array:
        """The log-probability of each sampled token [B, K, L] under `model`, teacher-forced by the
        incremental decoder: each user's prompt is encoded, and its cross-attention keys/values
        projected, once for all K samples (repeating the encoding per sample would multiply that
        projection, the bulk of the cost, by K)."""
        encoder_tokens = batch["encoder_input_tokens"]
        b, k, length = samples.shape
        cross_kv = model.cross_key_values(model.encode(encoder_tokens))
        cache = model.init_cache(b, k, length)
        inputs = jnp.concatenate([jnp.full((b, k, 1), decoding.PAD_ID, samples.dtype), samples[..., :-1]], -1)
        picked = []
        for t in range(length):  # identifiers are a few tokens long: unrolled
            logits, cache = model.decode_step(inputs[..., t], jnp.int32(t), cache, cross_kv, encoder_tokens)
            log_probs = jax.nn.log_softmax(logits, axis=-1)
            picked.append(jnp.take_along_axis(log_probs, samples[..., t, None], axis=-1)[..., 0])
        return jnp.stack(picked, axis=-1)

    def token_mask(self, samples: jax.Array) -> jax.Array:
        return jnp.ones(samples.shape, jnp.float32)


def _picked(log_probs: jax.Array, samples: jax.Array) -> jax.Array:
    """Per-digit log-probs [B, M, K] at sampled digits [B, K, M] → [B, K, M]."""
    return jnp.take_along_axis(log_probs[:, None], samples[..., None], axis=-1)[..., 0]
