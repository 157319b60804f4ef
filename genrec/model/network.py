"""The T5.1.1-style encoder-decoder (Flax NNX).

Pre-norm residual blocks (RMSNorm), relative position biases shared per stack (bidirectional buckets
in the encoder, causal in the decoder), ReLU or gated-GELU MLPs, dropout, tied or untied output.
Packed rows are honoured: with segment ids, tokens attend only within their own segment. Relative
distances are token-index differences, which equal position differences inside a packed segment
(seqio packs segments contiguously, positions counting up from 0) and pairs across segments are
masked; so one [1, heads, T, T] bias serves the whole batch instead of a [B, heads, T, T] gather per
row (which cost more than packing saved). The `*_positions` features are accepted for the feature
converter's interface and otherwise unused.

Each stack of layers is unrolled or scanned (`ModelConfig.scan_layers`, genrec/model/layer_stack.py).
Decoding (genrec/model/decoding.py) uses `encode`, `cross_key_values`, `init_cache`, `decode_step`
and `reorder_cache`; the KV cache holds explicit (keys, values) arrays: a pair per decoder layer
when unrolled, one pair stacked over layers when scanned.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from genrec.model import layer_stack
from genrec.model.config import ModelConfig
from genrec.model.layers import (
    Attention,
    Dense,
    Dropout,
    Embed,
    Mlp,
    RelativePositionBias,
    RMSNorm,
    mask_to_bias,
    token_index,
)

# Unrolled: per decoder layer (keys, values); scanned: (keys, values) stacked on a leading layer axis.
KVCache = tuple


class EncoderLayer(nnx.Module):
    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        self.attention_norm = RMSNorm(config, rngs=rngs)
        self.attention = Attention(config, rngs=rngs)
        self.mlp_norm = RMSNorm(config, rngs=rngs)
        self.mlp = Mlp(config, rngs=rngs)
        self.dropout = Dropout(config, rngs=rngs)

    def __call__(self, x, bias, deterministic=True, *, last_only: bool = False):
        """x [B, T, D], bias [B or 1, H or 1, T, T] → [B, T, D]; `last_only`: the last position's output
        alone, [B, 1, D] (every position still a key and a value)."""
        h = self.attention_norm(x)
        q = h
        if last_only:
            q, x, bias = h[:, -1:], x[:, -1:], bias[..., -1:, :]
        x = x + self.dropout(self.attention(q, h, bias, deterministic), deterministic=deterministic)
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

    def __call__(self, x, cross_kv, self_bias, cross_bias, deterministic=True, cache=None, cache_index=None):
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
        h = self.self_attention.attend(
            self.self_attention.project_query(h), keys, values, self_bias, deterministic
        ).reshape(x.shape)
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
        self.encoder_layers = layer_stack.make_layers(
            lambda r: EncoderLayer(config, rngs=r), config.num_encoder_layers, config.scan_layers, rngs
        )
        self.encoder_norm = RMSNorm(config, rngs=rngs)
        self.decoder_relpos = RelativePositionBias(config, bidirectional=False, rngs=rngs)
        self.decoder_layers = layer_stack.make_layers(
            lambda r: DecoderLayer(config, rngs=r), config.num_decoder_layers, config.scan_layers, rngs
        )
        self.decoder_norm = RMSNorm(config, rngs=rngs)
        self.output = None if config.tie_embeddings else Dense(config, rngs=rngs)

    def _run(self, layers, fn, carry, per_layer=(), train=True):
        """The layers in order (layer_stack.apply_layers); `train` paths honour ModelConfig.remat."""
        c = self.config
        return layer_stack.apply_layers(
            layers,
            fn,
            carry,
            per_layer,
            scanned=c.scan_layers,
            remat=c.remat_policy if c.remat and train else None,
        )

    def encode(
        self, encoder_input_tokens, *, encoder_segment_ids=None, encoder_positions=None, deterministic=True
    ) -> jax.Array:
        """Tokens [B, S] (0 = padding) → encoding [B, S, d_model]."""
        valid = encoder_input_tokens > 0
        index = token_index(encoder_input_tokens.shape[1])
        bias = self.encoder_relpos(index, index) + mask_to_bias(
            _pair_mask(valid, valid, encoder_segment_ids, encoder_segment_ids)
        )
        x = self.dropout(self.embed(encoder_input_tokens), deterministic=deterministic)
        x, _ = self._run(
            self.encoder_layers, lambda layer, x, _: (layer(x, bias, deterministic=deterministic), None), x
        )
        return self.dropout(self.encoder_norm(x), deterministic=deterministic)

    def decode(
        self,
        encoded,
        encoder_input_tokens,
        decoder_input_tokens,
        *,
        encoder_segment_ids=None,
        decoder_segment_ids=None,
        decoder_positions=None,
        deterministic=True,
    ) -> jax.Array:
        """Teacher-forced decoder over a whole target sequence → float32 logits [B, T, vocab]."""
        batch, length = decoder_input_tokens.shape
        causal = jnp.tril(jnp.ones((length, length), bool))[None]
        all_valid = jnp.ones((batch, length), bool)
        self_mask = causal & _pair_mask(all_valid, all_valid, decoder_segment_ids, decoder_segment_ids)
        cross_mask = _pair_mask(all_valid, encoder_input_tokens > 0, decoder_segment_ids, encoder_segment_ids)
        index = token_index(length)
        self_bias = self.decoder_relpos(index, index) + mask_to_bias(self_mask)
        cross_bias = mask_to_bias(cross_mask)
        x = self.dropout(self.embed(decoder_input_tokens), deterministic=deterministic)

        def layer_fn(layer, x, _):
            cross_kv = layer.cross_attention.project_key_value(encoded)
            return layer(x, cross_kv, self_bias, cross_bias, deterministic=deterministic)[0], None

        x, _ = self._run(self.decoder_layers, layer_fn, x)
        return self._logits(self.dropout(self.decoder_norm(x), deterministic=deterministic))

    def __call__(
        self,
        encoder_input_tokens,
        decoder_input_tokens,
        *,
        encoder_segment_ids=None,
        decoder_segment_ids=None,
        encoder_positions=None,
        decoder_positions=None,
        deterministic=True,
    ) -> jax.Array:
        encoded = self.encode(
            encoder_input_tokens,
            encoder_segment_ids=encoder_segment_ids,
            encoder_positions=encoder_positions,
            deterministic=deterministic,
        )
        return self.decode(
            encoded,
            encoder_input_tokens,
            decoder_input_tokens,
            encoder_segment_ids=encoder_segment_ids,
            decoder_segment_ids=decoder_segment_ids,
            decoder_positions=decoder_positions,
            deterministic=deterministic,
        )

    def _logits(self, x: jax.Array) -> jax.Array:
        if self.output is None:  # tied: T5 rescales by 1/sqrt(d_model)
            logits = self.embed.attend(x) / math.sqrt(self.config.d_model)
        else:
            logits = self.output(x)
        return logits.astype(jnp.float32)

    # --- incremental decoding -------------------------------------------------------------------

    def cross_key_values(self, encoded: jax.Array) -> KVCache:
        """Each decoder layer's cross-attention keys/values [B, S, H, Dh], computed once per user
        and shared by all of that user's beams (per layer, or stacked over layers when scanned)."""

        def layer_fn(layer, carry, _):
            return carry, layer.cross_attention.project_key_value(encoded)

        return self._run(self.decoder_layers, layer_fn, jnp.zeros(()), train=False)[1]

    def init_cache(self, batch: int, beams: int, max_length: int) -> KVCache:
        """Zeroed self-attention cache: (keys, values) [B, N, max_length, H, Dh] per layer, or
        [layers, B, N, max_length, H, Dh] once when scanned."""
        c = self.config
        shape = (batch, beams, max_length, c.num_heads, c.head_dim)
        if c.scan_layers:
            zeros = jnp.zeros((c.num_decoder_layers,) + shape, c.compute_dtype)
            return (zeros, zeros)
        zeros = jnp.zeros(shape, c.compute_dtype)
        return tuple((zeros, zeros) for _ in range(c.num_decoder_layers))

    def reorder_cache(self, cache: KVCache, parent: jax.Array) -> KVCache:
        """Each user's beams take the cache of their parent beam: parent [B, N] beam indices."""

        def reorder(x):  # x [B, N, ...]
            return jnp.take_along_axis(x, parent.reshape(parent.shape + (1,) * (x.ndim - 2)), axis=1)

        return jax.tree.map(jax.vmap(reorder) if self.config.scan_layers else reorder, cache)

    def decode_step(
        self,
        tokens: jax.Array,
        index: jax.Array,
        cache: KVCache,
        cross_kv: KVCache,
        encoder_input_tokens: jax.Array,
    ) -> tuple[jax.Array, KVCache]:
        """One decoder step for every beam: tokens [B, N] at position `index` (a scalar) →
        float32 logits [B, N, vocab] and the cache with this position's keys/values written."""
        keys_shape = (cache[0] if self.config.scan_layers else cache[0][0]).shape[-5:]
        batch, beams, max_length = keys_shape[:3]
        key_positions = jnp.arange(max_length, dtype=jnp.int32)[None]
        self_bias = self.decoder_relpos(
            jnp.reshape(index, (1, 1)).astype(jnp.int32), key_positions
        ) + mask_to_bias(key_positions[:, None, :] <= index)
        cross_bias = mask_to_bias((encoder_input_tokens > 0)[:, None, :])

        def layer_fn(layer, x, inputs):
            (keys, values), kv = inputs
            flat = (
                keys.reshape((batch * beams,) + keys.shape[2:]),
                values.reshape((batch * beams,) + values.shape[2:]),
            )
            x, (keys, values) = layer(x, kv, self_bias, cross_bias, cache=flat, cache_index=index)
            return x, (keys.reshape(keys_shape), values.reshape(keys_shape))

        x, new_cache = self._run(
            self.decoder_layers, layer_fn, self.embed(tokens), (cache, cross_kv), train=False
        )
        return self._logits(self.decoder_norm(x)), new_cache
