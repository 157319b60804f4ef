"""Model hyperparameters as frozen dataclasses, every field a gin knob.

`BlockConfig`: the settings of one pre-norm T5 block (self-attention + MLP) that a decoder-only stack
repeats (the parallel-digit model's `ParallelIdConfig.block`). `ModelConfig`: the encoder-decoder's,
the same block fields flat beside its stack and vocabulary settings; both are checked by
`check_block`. Encoder-decoder sizes live in configs/models/{tiny,tiger,small,base}.gin. `vocab_size`
normally comes from the vocabulary (the trainer passes it explicitly, which overrides any binding).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gin
import jax.numpy as jnp

from genrec.model.layer_stack import REMAT_POLICIES

ACTIVATIONS = ("relu", "gelu", "linear")
EMBEDDING_LOOKUPS = ("one_hot", "take")
DROPOUT_RNG_IMPLS = ("hash", "threefry2x32", "rbg", "unsafe_rbg")
# The block fields that must be positive integers.
BLOCK_SIZES = (
    "d_model",
    "num_heads",
    "head_dim",
    "mlp_dim",
    "relative_attention_num_buckets",
    "relative_attention_max_distance",
)


def check_block(config, owner: str, sizes: tuple[str, ...] = BLOCK_SIZES) -> None:
    """Checks BlockConfig's fields on `config` (a BlockConfig, or a ModelConfig, which repeats them), the
    `sizes` among them positive; an error names `owner.field`."""
    for name in sizes:
        if int(getattr(config, name)) <= 0:
            raise ValueError(f"{owner}.{name} must be positive, got {getattr(config, name)}")
    if not 0.0 <= config.dropout_rate < 1.0:
        raise ValueError(f"{owner}.dropout_rate must be in [0, 1), got {config.dropout_rate}")
    bad = [a for a in config.mlp_activations if a not in ACTIVATIONS]
    if bad or not config.mlp_activations:
        raise ValueError(f"{owner}.mlp_activations {config.mlp_activations}: use {ACTIVATIONS}")
    if config.dropout_rng_impl not in DROPOUT_RNG_IMPLS:
        raise ValueError(f"{owner}.dropout_rng_impl must be one of {DROPOUT_RNG_IMPLS}")
    jnp.dtype(config.dtype)  # raises on an unknown dtype name


@gin.configurable
@dataclasses.dataclass(frozen=True)
class BlockConfig:
    """One pre-norm T5 block: self-attention of `num_heads` x `head_dim` over `d_model` with relative
    position biases (`relative_attention_num_buckets` buckets up to `relative_attention_max_distance`),
    an MLP of `mlp_dim` (one activation per input projection; several are multiplied), dropout. The
    defaults are the parallel-digit model's."""

    d_model: int = 128
    num_heads: int = 4
    head_dim: int = 32
    mlp_dim: int = 512
    mlp_activations: tuple[str, ...] = ("gelu",)
    dropout_rate: float = 0.2
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 64
    dtype: str = "float32"  # compute dtype; params, logits and softmax stay float32
    dropout_rng_impl: str = "hash"  # how dropout masks are drawn (see ModelConfig.dropout_rng_impl)

    def __post_init__(self):
        object.__setattr__(self, "mlp_activations", tuple(self.mlp_activations))
        check_block(self, "BlockConfig")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["mlp_activations"] = list(self.mlp_activations)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BlockConfig":
        return from_dict(cls, d)


@gin.configurable
@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """T5.1.1-style encoder-decoder. Defaults are T5.1.1-small."""

    vocab_size: int = 32128
    d_model: int = 512
    num_heads: int = 6
    head_dim: int = 64
    mlp_dim: int = 1024
    num_encoder_layers: int = 8
    num_decoder_layers: int = 8
    dropout_rate: float = 0.1
    # One activation per MLP input projection; several are multiplied (('gelu', 'linear') = GeGLU).
    mlp_activations: tuple[str, ...] = ("gelu", "linear")
    tie_embeddings: bool = False
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    dtype: str = "float32"  # compute dtype; params, logits and softmax stay float32
    remat: bool = False  # rematerialise each layer's activations in the backward pass
    # What remat keeps from the forward pass: 'nothing' (recompute the whole layer: least memory),
    # 'weight_dots' (keep the outputs of matmuls against weights; recompute attention scores and
    # elementwise ops), 'dots' (keep every matmul output, attention's included).
    remat_policy: str = "nothing"
    # Scan over each stack's layers (stacked parameters with a leading 'layers' axis): one compiled
    # layer body per stack instead of one per layer. Changes the parameter tree (see layer_stack.py).
    scan_layers: bool = False
    # 'one_hot': lookup as one_hot(tokens) @ table (a plain matmul: no gather from a vocab-sharded
    # table, dense gradient); 'take': jnp.take (cheaper for big vocabularies on one device).
    embedding_lookup: str = "one_hot"
    # How dropout masks are drawn: 'hash' (a counter-based integer hash of each element's index,
    # seeded from the dropout RNG stream: cheapest on CPU, the same masks on any mesh or backend) or a
    # jax.random key implementation ('rbg', 'unsafe_rbg', 'threefry2x32'; see layers.Dropout).
    dropout_rng_impl: str = "hash"

    def __post_init__(self):
        object.__setattr__(self, "mlp_activations", tuple(self.mlp_activations))
        check_block(
            self, "ModelConfig", ("vocab_size", "num_encoder_layers", "num_decoder_layers") + BLOCK_SIZES
        )
        if self.embedding_lookup not in EMBEDDING_LOOKUPS:
            raise ValueError(f"ModelConfig.embedding_lookup must be one of {EMBEDDING_LOOKUPS}")
        if self.remat_policy not in REMAT_POLICIES:
            raise ValueError(
                f"ModelConfig.remat_policy must be one of {tuple(REMAT_POLICIES)}, got {self.remat_policy!r}"
            )

    @property
    def compute_dtype(self):
        return jnp.dtype(self.dtype)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (checkpoint meta); `ModelConfig.from_dict` inverts it."""
        d = dataclasses.asdict(self)
        d["mlp_activations"] = list(self.mlp_activations)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        return from_dict(cls, d)


def from_dict(cls, d: dict[str, Any]):
    """A config dataclass from its saved dict (checkpoint meta); unknown fields are refused by name."""
    unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {sorted(unknown)}")
    return cls(**d)
