"""The T5.1.1-style encoder-decoder (Flax NNX).

Pre-norm residual blocks (RMSNorm), relative position biases shared per stack (bidirectional buckets
in the encoder, causal in the decoder), ReLU or gated-GELU MLPs, dropout, tied or untied output.
Packed rows are honoured: with segment ids, tokens attend only within their own segment. Relative
distances are token-index differences, which equal position differences inside a packed segment
(seqio packs segments contiguously, positions counting up from 0) and pairs across segments are
masked; so one [1, heads, T, T] bias serves the whole batch instead of a [B, heads, T, T] gather per
row (which cost more than packing saved). The `*_positions` features are accepted for the feature
converter's interface and otherwise unused.

Decoding (genrec/model/decoding.py) uses `encode`, `cross_key_values`, `init_cache` and
`decode_step`; the KV cache is a tuple of explicit (keys, values) arrays per decoder layer.
"""
from __future__ import annotations

import math
from typing import Optional

import jax
import jax.numpy as jnp
from flax import nnx

from genrec.model.config import ModelConfig
from genrec.model.layers import (Attention, Dense, Dropout, Embed, Mlp, RelativePositionBias, RMSNorm,
                                 mask_to_bias, token_index)

KVCache = tuple[tuple[jax.Array, jax.Array], ...]  # per decoder layer: keys, values


class EncoderLayer(nnx.Module):

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        self.attention_norm = RMSNorm(config, rngs=rngs)
        self.attention = Attention(config, rngs=rngs)
        self.mlp_norm = RMSNorm(config, rngs=rngs)
        self.mlp = Mlp(config, rngs=rngs)
        self.dropout = Dropout(config, rngs=rngs)

    def __call__(self, x, bias, deterministic=True):
        h = self.attention_norm(x)
        x = x + self.dropout(self.attention(h, h, bias, deterministic), deterministic=deterministic)
        h = self.mlp(self.mlp_norm(x), deterministic)
        return x + self.dropout(h, deterministic=deterministic)


class DecoderLayer(nnx.Module):

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        self.self_attention_norm = RMSNorm(config, rngs=rngs)
        self.self_attention = Attention(config, rngs=rngs)
        self.cross_attention_norm = RMSNorm(config, rngs=rngs)
        self.cross_attention = Attention(config, rngs=rngs)
        self.mlp_norm = RMSNorm(config, rngs=rngs)
        self.mlp = Mlp(config, rngs=rngs)
        self.dropout = Dropout(config, rngs=rngs)

    def __call__(self, x, cross_kv, self_bias, cross_bias, deterministic=True, cache=None,
                 cache_index=None):
        """Full sequence: x [B, T, D]. Cached step: x [B, N, D] holds one new token per beam, `cache`
        is (keys, values) [B*N, max_len, H, Dh] and the new token sits at `cache_index`."""
        h = self.self_attention_norm(x)
        if cache is not None:
            h = h.reshape(-1, 1, h.shape[-1])  # each beam is its own length-1 query sequence
        keys, values = self.self_attention.project_key_value(h)
        if cache is not None:
            keys = jax.lax.dynamic_update_slice_in_dim(cache[0], keys, cache_index, axis=1)
            values = jax.lax.dynamic_update_slice_in_dim(cache[1], values, cache_index, axis=1)
            cache = (keys, values)
        h = self.self_attention.attend(self.self_attention.project_query(h), keys, values, self_bias,
                                       deterministic).reshape(x.shape)
        x = x + self.dropout(h, deterministic=deterministic)
        # Cross-attention: the beams of a user are its query positions against the shared encoding.
        q = self.cross_attention.project_query(self.cross_attention_norm(x))
        h = self.cross_attention.attend(q, *cross_kv, cross_bias, deterministic)
        x = x + self.dropout(h, deterministic=deterministic)
        h = self.mlp(self.mlp_norm(x), deterministic)
        return x + self.dropout(h, deterministic=deterministic), cache


def _pair_mask(q_valid, k_valid, q_segments=None, k_segments=None):
    """[B, Q] and [B, K] → [B, Q, K]: both valid and, where segments are given, in the same one."""
    mask = q_valid[:, :, None] & k_valid[:, None, :]
    if q_segments is not None and k_segments is not None:
        mask = mask & (q_segments[:, :, None] == k_segments[:, None, :])
    return mask


class EncoderDecoder(nnx.Module):
    """T5.1.1 encoder-decoder; `__call__` returns float32 logits [B, T, vocab]."""

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.embed = Embed(config, rngs=rngs)
        self.dropout = Dropout(config, rngs=rngs)
        self.encoder_relpos = RelativePositionBias(config, bidirectional=True, rngs=rngs)
        self.encoder_layers = nnx.List([EncoderLayer(config, rngs=rngs)
                                        for _ in range(config.num_encoder_layers)])
        self.encoder_norm = RMSNorm(config, rngs=rngs)
        self.decoder_relpos = RelativePositionBias(config, bidirectional=False, rngs=rngs)
        self.decoder_layers = nnx.List([DecoderLayer(config, rngs=rngs)
                                        for _ in range(config.num_decoder_layers)])
        self.decoder_norm = RMSNorm(config, rngs=rngs)
        self.output = None if config.tie_embeddings else Dense(config, rngs=rngs)

    def _apply(self, layer, *args, deterministic):
        def call(layer, *args):
            return layer(*args, deterministic=deterministic)
        return (nnx.remat(call) if self.config.remat else call)(layer, *args)

    def encode(self, encoder_input_tokens, *, encoder_segment_ids=None, encoder_positions=None,
               deterministic=True) -> jax.Array:
        """Tokens [B, S] (0 = padding) → encoding [B, S, d_model]."""
        valid = encoder_input_tokens > 0
        index = token_index(encoder_input_tokens.shape[1])
        bias = self.encoder_relpos(index, index) + mask_to_bias(
            _pair_mask(valid, valid, encoder_segment_ids, encoder_segment_ids))
        x = self.dropout(self.embed(encoder_input_tokens), deterministic=deterministic)
        for layer in self.encoder_layers:
            x = self._apply(layer, x, bias, deterministic=deterministic)
        return self.dropout(self.encoder_norm(x), deterministic=deterministic)

    def decode(self, encoded, encoder_input_tokens, decoder_input_tokens, *,
               encoder_segment_ids=None, decoder_segment_ids=None, decoder_positions=None,
               deterministic=True) -> jax.Array:
        """Teacher-forced decoder over a whole target sequence → float32 logits [B, T, vocab]."""
        batch, length = decoder_input_tokens.shape
        causal = jnp.tril(jnp.ones((length, length), bool))[None]
        all_valid = jnp.ones((batch, length), bool)
        self_mask = causal & _pair_mask(all_valid, all_valid, decoder_segment_ids, decoder_segment_ids)
        cross_mask = _pair_mask(all_valid, encoder_input_tokens > 0, decoder_segment_ids,
                                encoder_segment_ids)
        index = token_index(length)
        self_bias = self.decoder_relpos(index, index) + mask_to_bias(self_mask)
        cross_bias = mask_to_bias(cross_mask)
        x = self.dropout(self.embed(decoder_input_tokens), deterministic=deterministic)
        for layer in self.decoder_layers:
            cross_kv = layer.cross_attention.project_key_value(encoded)
            x, _ = self._apply(layer, x, cross_kv, self_bias, cross_bias, deterministic=deterministic)
        return self._logits(self.dropout(self.decoder_norm(x), deterministic=deterministic))

    def __call__(self, encoder_input_tokens, decoder_input_tokens, *, encoder_segment_ids=None,
                 decoder_segment_ids=None, encoder_positions=None, decoder_positions=None,
                 deterministic=True) -> jax.Array:
        encoded = self.encode(encoder_input_tokens, encoder_segment_ids=encoder_segment_ids,
                              encoder_positions=encoder_positions, deterministic=deterministic)
        return self.decode(encoded, encoder_input_tokens, decoder_input_tokens,
                           encoder_segment_ids=encoder_segment_ids,
                           decoder_segment_ids=decoder_segment_ids,
                           decoder_positions=decoder_positions, deterministic=deterministic)

    def _logits(self, x: jax.Array) -> jax.Array:
        if self.output is None:  # tied: T5 rescales by 1/sqrt(d_model)
            logits = self.embed.attend(x) / math.sqrt(self.config.d_model)
        else:
            logits = self.output(x)
        return logits.astype(jnp.float32)

    # --- incremental decoding -------------------------------------------------------------------

    def cross_key_values(self, encoded: jax.Array) -> KVCache:
        """Each decoder layer's cross-attention keys/values [B, S, H, Dh], computed once per user
        and shared by all of that user's beams."""
        return tuple(layer.cross_attention.project_key_value(encoded) for layer in self.decoder_layers)

    def init_cache(self, batch: int, beams: int, max_length: int) -> KVCache:
        """Zeroed self-attention cache: per layer (keys, values) [B, N, max_length, H, Dh]."""
        c = self.config
        shape = (batch, beams, max_length, c.num_heads, c.head_dim)
        zeros = jnp.zeros(shape, c.compute_dtype)
        return tuple((zeros, zeros) for _ in range(c.num_decoder_layers))

    def decode_step(self, tokens: jax.Array, index: jax.Array, cache: KVCache, cross_kv: KVCache,
                    encoder_input_tokens: jax.Array) -> tuple[jax.Array, KVCache]:
        """One decoder step for every beam: tokens [B, N] at position `index` (a scalar) →
        float32 logits [B, N, vocab] and the cache with this position's keys/values written."""
        batch, beams, max_length = cache[0][0].shape[:3]
        key_positions = jnp.arange(max_length, dtype=jnp.int32)[None]
        self_bias = (self.decoder_relpos(jnp.reshape(index, (1, 1)).astype(jnp.int32), key_positions)
                     + mask_to_bias(key_positions[:, None, :] <= index))
        cross_bias = mask_to_bias((encoder_input_tokens > 0)[:, None, :])
        x = self.embed(tokens)
        new_cache = []
        for layer, (keys, values), kv in zip(self.decoder_layers, cache, cross_kv):
            flat = (keys.reshape((batch * beams,) + keys.shape[2:]),
                    values.reshape((batch * beams,) + values.shape[2:]))
            x, (keys, values) = layer(x, kv, self_bias, cross_bias, cache=flat, cache_index=index)
            new_cache.append((keys.reshape(cache[0][0].shape), values.reshape(cache[0][0].shape)))
        return self._logits(self.decoder_norm(x)), tuple(new_cache)
