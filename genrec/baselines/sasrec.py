"""SASRec (Kang & McAuley, ICDM 2018): a causal self-attention encoder over the item sequence.

The item embedding table is shared between input and output: item i's score after position t is
<h_t, E[i + 1]> (row 0 is padding). Two block layouts (`SasRecConfig.block_layout`), both with a
final LN; attention is causal and ignores padding keys:
- 'pre_norm': x + attn(LN(x)), then x + ffn(LN(x)), the usual pre-LN Transformer;
- 'original': the layout of Kang & McAuley's code (and the PyTorch ports of it): q = LN(x) attends
  over the raw x and the residual starts from q, x = q + attn(q, x); then x = LN(x) and
  x = x + ffn(x), with dropout inside the FFN as well.
Dropout takes an explicit key (None = deterministic), so the model holds only parameters.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import gin
import jax
import jax.numpy as jnp
from flax import nnx

from genrec.evaluate import sequences

# Dropout keys per block: attention weights, attention output, (FFN inner,) FFN output.
KEYS_PER_BLOCK = {"pre_norm": 3, "original": 4}
BLOCK_LAYOUTS = tuple(KEYS_PER_BLOCK)


@gin.configurable
@dataclasses.dataclass(frozen=True)
class SasRecConfig:
    d_model: int = 64
    num_blocks: int = 2
    num_heads: int = 1
    max_len: int = 50
    dropout_rate: float = 0.5
    block_layout: str = "pre_norm"

    def __post_init__(self):
        if self.block_layout not in BLOCK_LAYOUTS:
            raise ValueError(
                f"SasRecConfig.block_layout={self.block_layout!r}; expected one of {BLOCK_LAYOUTS}"
            )


def dropout(x: jax.Array, rate: float, key: Optional[jax.Array]) -> jax.Array:
    if key is None or rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0)


def causal_padding_mask(tokens: jax.Array) -> jax.Array:
    """[B, 1, T, T] bool: query t sees key s iff s <= t and key s is an item (not padding).

    Rows of padding queries see only themselves, so softmax stays finite; they are zeroed later.
    """
    t = tokens.shape[1]
    causal = jnp.tril(jnp.ones((t, t), bool))
    is_item = tokens != sequences.PAD
    mask = causal[None] & is_item[:, None, :]
    mask = mask | jnp.eye(t, dtype=bool)[None]
    return mask[:, None]


class SelfAttention(nnx.Module):
    def __init__(self, d_model: int, num_heads: int, *, rngs: nnx.Rngs):
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.qkv = nnx.Linear(d_model, 3 * d_model, rngs=rngs)
        self.out = nnx.Linear(d_model, d_model, rngs=rngs)

    def __call__(
        self, x: jax.Array, mask: jax.Array, rate: float, key, keys_values: Optional[jax.Array] = None
    ) -> jax.Array:
        """Queries from x; keys and values from `keys_values` (default x)."""
        b, t, d = x.shape
        q, k, v = jnp.split(self.qkv(x), 3, -1)
        if keys_values is not None:
            _, k, v = jnp.split(self.qkv(keys_values), 3, -1)
        q, k, v = (
            a.reshape(b, t, self.num_heads, d // self.num_heads).transpose(0, 2, 1, 3) for a in (q, k, v)
        )  # [B, H, T, Dh]
        logits = q @ k.transpose(0, 1, 3, 2) / jnp.sqrt(q.shape[-1]).astype(x.dtype)
        weights = jax.nn.softmax(jnp.where(mask, logits, -1e9), axis=-1)
        weights = dropout(weights, rate, key)
        return self.out((weights @ v).transpose(0, 2, 1, 3).reshape(b, t, d))


class Block(nnx.Module):
    def __init__(self, d_model: int, num_heads: int, layout: str, *, rngs: nnx.Rngs):
        self.layout = layout
        self.attn_norm = nnx.LayerNorm(d_model, rngs=rngs)
        self.attn = SelfAttention(d_model, num_heads, rngs=rngs)
        self.ffn_norm = nnx.LayerNorm(d_model, rngs=rngs)
        self.ffn_in = nnx.Linear(d_model, d_model, rngs=rngs)
        self.ffn_out = nnx.Linear(d_model, d_model, rngs=rngs)

    def __call__(self, x, mask, rate: float, keys) -> jax.Array:
        k = keys if keys is not None else [None] * KEYS_PER_BLOCK[self.layout]
        q = self.attn_norm(x)
        if self.layout == "original":
            attended = self.attn(q, mask, rate, k[0], keys_values=x)
            x = self.ffn_norm(q + dropout(attended, rate, k[1]))
            h = dropout(jax.nn.relu(self.ffn_in(x)), rate, k[2])
        else:
            x = x + dropout(self.attn(q, mask, rate, k[0]), rate, k[1])
            h = jax.nn.relu(self.ffn_in(self.ffn_norm(x)))
        return x + dropout(self.ffn_out(h), rate, k[-1])


class SasRec(nnx.Module):
    """tokens [B, T] (0 = padding, item i = i + 1) → hidden states [B, T, d_model]."""

    def __init__(self, num_items: int, config: SasRecConfig, *, rngs: nnx.Rngs):
        self.config = config
        d = config.d_model
        init = nnx.initializers.normal(stddev=d**-0.5)
        self.item_embed = nnx.Embed(num_items + 1, d, embedding_init=init, rngs=rngs)
        self.pos_embed = nnx.Embed(config.max_len, d, embedding_init=init, rngs=rngs)
        self.blocks = nnx.List(
            [Block(d, config.num_heads, config.block_layout, rngs=rngs) for _ in range(config.num_blocks)]
        )
        self.final_norm = nnx.LayerNorm(d, rngs=rngs)

    def item_embeddings(self) -> jax.Array:
        """[num_items, d]: the output embedding of every real item (padding row dropped)."""
        return self.item_embed.embedding[...][1:]

    def __call__(self, tokens: jax.Array, *, dropout_key: Optional[jax.Array] = None) -> jax.Array:
        cfg = self.config
        if tokens.shape[1] > cfg.max_len:
            raise ValueError(f"window {tokens.shape[1]} is longer than max_len={cfg.max_len}")
        is_item = (tokens != sequences.PAD)[..., None]
        pos = jnp.arange(cfg.max_len - tokens.shape[1], cfg.max_len)
        x = self.item_embed(tokens) * jnp.sqrt(cfg.d_model) + self.pos_embed(pos)[None]
        per_block = KEYS_PER_BLOCK[cfg.block_layout]
        keys = None if dropout_key is None else jax.random.split(dropout_key, 1 + per_block * cfg.num_blocks)
        x = dropout(x, cfg.dropout_rate, None if keys is None else keys[0]) * is_item
        mask = causal_padding_mask(tokens)
        for i, block in enumerate(self.blocks):
            block_keys = None if keys is None else keys[1 + per_block * i :][:per_block]
            x = block(x, mask, cfg.dropout_rate, block_keys)
            x = x * is_item
        return self.final_norm(x)
