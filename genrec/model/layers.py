"""T5.1.1 building blocks in Flax NNX; every parameter carries logical axis names.

Logical axes: 'vocab', 'embed', 'mlp', 'heads', 'kv', 'relpos_buckets' (scanned stacks add 'layers',
genrec/model/layer_stack.py). The trainer maps them to mesh axes with one rules table. Parameters
are created with `eager_sharding=False`, so a model can be built with or without a mesh; shardings
come from the annotations (`nnx.get_partition_spec`).
Parameters are float32; matmuls run in `config.dtype`; attention softmax runs in float32.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from genrec.model.config import ModelConfig

NEG_INF = -1e10  # additive mask value; finite so fully masked rows give a uniform softmax, not NaN


def matmul(x: jax.Array, kernel: jax.Array, contract: int = 1) -> jax.Array:
    """x [..., *kernel.shape[:contract]] times kernel → [..., *kernel.shape[contract:]], computed as
    one 2-D matmul: x's leading axes are flattened into a single token axis (and the kernel into a
    matrix), so the kernel's gradient contracts one axis. With the leading [batch, length] axes kept,
    XLA:CPU transposed the [tokens, mlp] activation gradient into a copy for each weight gradient,
    which made the MLP's backward pass ~2x slower."""
    lead = x.shape[: x.ndim - contract]
    size = math.prod(kernel.shape[:contract])
    y = x.reshape(-1, size) @ kernel.reshape(size, -1)
    return y.reshape(lead + kernel.shape[contract:])


def param(rngs: nnx.Rngs, init, shape: tuple[int, ...], axes: tuple[str, ...]) -> nnx.Param:
    annotated = nnx.with_partitioning(init, axes, eager_sharding=False)
    return nnx.Param(annotated(rngs.params(), shape, jnp.float32))


def fan_in_init(in_axis, out_axis):
    return nnx.initializers.variance_scaling(
        1.0, "fan_in", "truncated_normal", in_axis=in_axis, out_axis=out_axis
    )


class RMSNorm(nnx.Module):
    """T5 layer norm: scale only, no mean subtraction, no bias; statistics in float32."""

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs, eps: float = 1e-6):
        self.scale = param(rngs, nnx.initializers.ones, (config.d_model,), ("embed",))
        self.eps = eps
        self.dtype = config.compute_dtype

    def __call__(self, x: jax.Array) -> jax.Array:
        x32 = x.astype(jnp.float32)
        x32 = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
        return (x32 * self.scale[...]).astype(self.dtype)


class Embed(nnx.Module):
    """Token embedding table [vocab, embed], also the output projection when embeddings are tied."""

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        self.embedding = param(
            rngs, nnx.initializers.normal(1.0), (config.vocab_size, config.d_model), ("vocab", "embed")
        )
        self.dtype = config.compute_dtype
        self.one_hot = config.embedding_lookup == "one_hot"

    def __call__(self, tokens: jax.Array) -> jax.Array:
        table = self.embedding[...].astype(self.dtype)
        if self.one_hot:
            return matmul(jax.nn.one_hot(tokens, table.shape[0], dtype=self.dtype), table)
        return jnp.take(table, tokens, axis=0)

    def attend(self, x: jax.Array) -> jax.Array:
        """x [..., embed] → logits [..., vocab] against the table (tied output layer)."""
        return matmul(x, self.embedding[...].astype(self.dtype).T)


def relative_position_bucket(
    relative_position: jax.Array, *, bidirectional: bool, num_buckets: int, max_distance: int
) -> jax.Array:
    """T5's bucketing of `key_position - query_position`.

    Half the buckets are exact distances 0..max_exact-1; the rest grow logarithmically up to
    `max_distance`, beyond which everything shares the last bucket. Bidirectional (encoder) spends
    half of all buckets on keys after the query; causal (decoder) maps keys after the query to 0.
    """
    n = -relative_position  # > 0: key before query
    bucket = jnp.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        bucket = bucket + (n < 0).astype(jnp.int32) * num_buckets
        n = jnp.abs(n)
    else:
        n = jnp.maximum(n, 0)
    max_exact = num_buckets // 2
    log_ratio = jnp.log(n.astype(jnp.float32) / max_exact + jnp.finfo(jnp.float32).eps)
    large = max_exact + (log_ratio / math.log(max_distance / max_exact) * (num_buckets - max_exact)).astype(
        jnp.int32
    )
    large = jnp.minimum(large, num_buckets - 1)
    return bucket + jnp.where(n < max_exact, n, large)


class RelativePositionBias(nnx.Module):
    """One learned scalar per (bucket, head), shared by every layer of a stack."""

    def __init__(self, config: ModelConfig, *, bidirectional: bool, rngs: nnx.Rngs):
        self.num_buckets = config.relative_attention_num_buckets
        self.max_distance = config.relative_attention_max_distance
        self.bidirectional = bidirectional
        init = nnx.initializers.variance_scaling(1.0, "fan_avg", "uniform")
        self.embedding = param(rngs, init, (self.num_buckets, config.num_heads), ("relpos_buckets", "heads"))

    def __call__(self, query_positions: jax.Array, key_positions: jax.Array) -> jax.Array:
        """Positions [B, Q] and [B, K] (B may be 1) → bias [B, heads, Q, K] (float32)."""
        buckets = relative_position_bucket(
            key_positions[:, None, :] - query_positions[:, :, None],
            bidirectional=self.bidirectional,
            num_buckets=self.num_buckets,
            max_distance=self.max_distance,
        )
        bias = jnp.take(self.embedding[...], buckets, axis=0)  # [B, Q, K, H]; tiny table, replicated
        return jnp.transpose(bias, (0, 3, 1, 2))


def _mix32(x: jax.Array) -> jax.Array:
    """'lowbias32' integer hash (C. Wellons): a bijection on uint32 with strong avalanche."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def hashed_bits(seeds: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """uint32 bits of `shape` from two uint32 seeds: a counter-based hash of each element's index,
    mix(mix(index within row ^ seed0) ^ mix(row * golden ^ seed1)), the row being the leading axis.
    Elementwise in the global index: the same bits on any mesh and backend, and each device computes
    only its own shard's."""
    shape = tuple(shape) or (1,)
    full = (1,) + shape[1:]
    index, stride = jnp.zeros(full, jnp.uint32), 1
    for axis in reversed(range(1, len(shape))):
        index = index + jax.lax.broadcasted_iota(jnp.uint32, full, axis) * jnp.uint32(stride % 2**32)
        stride *= shape[axis]
    rows = jax.lax.broadcasted_iota(jnp.uint32, (shape[0],) + (1,) * (len(shape) - 1), 0)
    row_mix = _mix32(rows * jnp.uint32(0x9E3779B9) ^ seeds[1])
    return _mix32(_mix32(index ^ seeds[0]) ^ row_mix)


class Dropout(nnx.Dropout):
    """nnx.Dropout (same RNG stream, rate and 1/(1-rate) scaling) with a much cheaper mask.

    The mask is 32 random bits per element compared with an integer threshold (keep iff
    bits >= rate * 2**32) instead of bernoulli's bits -> float uniform -> compare. The bits come from
    `config.dropout_rng_impl`: 'hash' (default) hashes each element's index with two seeds drawn
    from the dropout stream (`hashed_bits`; a few integer ops per element, fused into the consumer),
    any other value names a jax.random key implementation the stream's key is re-drawn as ('rbg',
    'unsafe_rbg', 'threefry2x32'). Why: with nnx.Dropout's threefry bernoulli masks over the
    [B, T, mlp] hidden and the [B, heads, T, T] attention weights, drawing the masks was most of the
    tiger train step on CPU (batch 256: ~390 M masked values per step).
    """

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        super().__init__(config.dropout_rate, rngs=rngs)
        self.rng_impl = config.dropout_rng_impl

    def __call__(self, inputs: jax.Array, *, deterministic: bool) -> jax.Array:
        if self.rate == 0.0 or deterministic:
            return inputs
        keep, keep_prob = self.keep_mask(self.rngs(), inputs.shape)
        return jnp.where(keep, inputs / jnp.asarray(keep_prob, inputs.dtype), jnp.zeros_like(inputs))

    def keep_mask(self, key: jax.Array, shape: tuple[int, ...]) -> tuple[jax.Array, float]:
        """(boolean keep mask of `shape`, keep probability) from the key `key`."""
        threshold = min(round(self.rate * 2**32), 2**32 - 1)
        if self.rng_impl == "hash":
            bits = hashed_bits(jax.random.bits(key, (2,), jnp.uint32), shape).reshape(shape)
        else:
            if str(jax.random.key_impl(key)) != self.rng_impl:
                words = jax.random.bits(key, (KEY_WORDS[self.rng_impl],), jnp.uint32)
                key = jax.random.wrap_key_data(words, impl=self.rng_impl)
            bits = jax.random.bits(key, shape, jnp.uint32)
        return bits >= jnp.uint32(threshold), 1.0 - threshold / 2**32


KEY_WORDS = {"threefry2x32": 2, "rbg": 4, "unsafe_rbg": 4}  # uint32 words of a key's data


def mask_to_bias(mask: jax.Array) -> jax.Array:
    """Boolean mask [B, Q, K] (True = may attend) → additive bias [B, 1, Q, K]."""
    return jnp.where(mask, 0.0, NEG_INF).astype(jnp.float32)[:, None]


class Attention(nnx.Module):
    """Multi-head dot-product attention; projections are [embed, heads, kv] einsum kernels.

    Logits are scaled by 1/sqrt(head_dim) (T5 folds this into the query init; the result is the same
    function family). The KV projections are separate methods so decoding can cache them.
    """

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        d, h, k = config.d_model, config.num_heads, config.head_dim
        in_init, out_init = fan_in_init(0, (1, 2)), fan_in_init((0, 1), 2)
        self.query = param(rngs, in_init, (d, h, k), ("embed", "heads", "kv"))
        self.key = param(rngs, in_init, (d, h, k), ("embed", "heads", "kv"))
        self.value = param(rngs, in_init, (d, h, k), ("embed", "heads", "kv"))
        self.out = param(rngs, out_init, (h, k, d), ("heads", "kv", "embed"))
        self.dropout = Dropout(config, rngs=rngs)
        self.dtype = config.compute_dtype
        self.scale = 1.0 / math.sqrt(k)

    def _project(self, kernel: nnx.Param, x: jax.Array) -> jax.Array:
        return matmul(x, kernel[...].astype(self.dtype))

    def project_query(self, x: jax.Array) -> jax.Array:
        return self._project(self.query, x)

    def project_key_value(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """x [B, K, embed] → keys, values [B, K, heads, kv]."""
        return self._project(self.key, x), self._project(self.value, x)

    def attend(
        self, q: jax.Array, k: jax.Array, v: jax.Array, bias: jax.Array, deterministic: bool = True
    ) -> jax.Array:
        """q [B, Q, H, Dh], k/v [B, K, H, Dh], bias broadcastable to [B, H, Q, K] → [B, Q, embed]."""
        logits = jnp.einsum("bqhk,bshk->bhqs", q, k, preferred_element_type=jnp.float32)
        weights = jax.nn.softmax(logits * self.scale + bias, axis=-1)
        weights = self.dropout(weights, deterministic=deterministic).astype(self.dtype)
        mixed = jnp.einsum("bhqs,bshk->bqhk", weights, v)
        return matmul(mixed, self.out[...].astype(self.dtype), contract=2)

    def __call__(
        self, x: jax.Array, kv_input: jax.Array, bias: jax.Array, deterministic: bool = True
    ) -> jax.Array:
        k, v = self.project_key_value(kv_input)
        return self.attend(self.project_query(x), k, v, bias, deterministic)


_ACTIVATION_FNS = {
    "relu": jax.nn.relu,
    "gelu": lambda x: jax.nn.gelu(x, approximate=True),  # T5.1.1's gelu_new
    "linear": lambda x: x,
}


class Mlp(nnx.Module):
    """Position-wise MLP; several input projections are combined by product (gated, e.g. GeGLU)."""

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        d, f = config.d_model, config.mlp_dim
        self.activations = config.mlp_activations
        self.wi = nnx.List(
            [param(rngs, fan_in_init(0, 1), (d, f), ("embed", "mlp")) for _ in self.activations]
        )
        self.wo = param(rngs, fan_in_init(0, 1), (f, d), ("mlp", "embed"))
        self.dropout = Dropout(config, rngs=rngs)
        self.dtype = config.compute_dtype

    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        hidden = None
        for act, kernel in zip(self.activations, self.wi):
            h = _ACTIVATION_FNS[act](matmul(x, kernel[...].astype(self.dtype)))
            hidden = h if hidden is None else hidden * h
        hidden = self.dropout(hidden, deterministic=deterministic)
        return matmul(hidden, self.wo[...].astype(self.dtype))


class Dense(nnx.Module):
    """Untied output projection [embed, vocab]."""

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        self.kernel = param(rngs, fan_in_init(0, 1), (config.d_model, config.vocab_size), ("embed", "vocab"))
        self.dtype = config.compute_dtype

    def __call__(self, x: jax.Array) -> jax.Array:
        return matmul(x, self.kernel[...].astype(self.dtype))


def token_index(length: int) -> jax.Array:
    """[1, length] token indices: the positions relative distances are measured in."""
    return jnp.arange(length, dtype=jnp.int32)[None]
